"""Importing a library without modules it imports but a server never calls.

``import gensim`` imports all of ``scipy.stats``, ``scipy.optimize`` and ``scipy.special`` for
a few names (``entropy``, ``halfnorm``, ``psi``, ``gammaln``, and the modules themselves, for
topic models and word-pair evaluation): about 0.8 s of a 2.4 s ``hatbot serve`` cold start,
for code a server never runs.
:func:`deferring` hands such imports stand-ins that import the real module on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Deferred:
    """Stands for ``module.name``; importing ``module`` on the first call or attribute."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    def _target(self) -> Any:
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # our own slots before they are set, copy's probes
            raise AttributeError(attribute)
        return getattr(self._target(), attribute)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._name}>"


class _DeferredModule(types.ModuleType):
    """Stands for a module while it is deferred; each of its names is a :class:`_Deferred`."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system probes dunders such as __path__
            raise AttributeError(name)
        return _Deferred(self.__name__, name)


@contextmanager
def deferring(*modules: str) -> Iterator[None]:
    """Within the block, imports of ``modules`` (those not yet imported) get stand-ins.

    Names taken from a stand-in stay stand-ins: the first call or public attribute imports
    the real module. After the block, importing one of ``modules`` imports the real one.
    Only for names used as functions or objects: not for classes to subclass or check
    instances against, nor for importing ``module.sub`` packages.
    """
    deferred = [name for name in modules if name not in sys.modules]
    for name in deferred:
        sys.modules[name] = _DeferredModule(name)
    try:
        yield
    finally:
        for name in deferred:
            if isinstance(sys.modules.get(name), _DeferredModule):
                del sys.modules[name]
