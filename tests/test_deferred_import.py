"""Deferring a module's import: stand-ins that import the real module on first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import running_server

from hatbot.client import HatClient
from hatbot.server.cli import UNUSED_BY_SERVING
from hatbot.server.deferred_import import deferring

SLOW = "hatbot_test_slow_module"


@pytest.fixture
def slow_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An importable module, not imported yet, with a function and an object."""
    (tmp_path / f"{SLOW}.py").write_text(
        textwrap.dedent(
            """
            class Thing:
                value = 7

                def twice(self, x):
                    return 2 * x

            thing = Thing()

            def double(x):
                return 2 * x
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield SLOW
    sys.modules.pop(SLOW, None)


def test_a_deferred_module_is_imported_on_first_use(slow_module: str) -> None:
    with deferring(slow_module):
        import hatbot_test_slow_module as whole  # type: ignore[import-not-found]
        from hatbot_test_slow_module import double, thing
    assert slow_module not in sys.modules
    assert "deferred" in repr(double)
    assert double(21) == 42
    real = sys.modules[slow_module]
    assert real.__file__ is not None
    assert real is not whole
    assert thing.value == 7
    assert thing.twice(4) == 8
    assert whole.double(5) == 10
    assert whole.thing.value == 7


def test_after_the_block_the_real_module_is_imported(slow_module: str) -> None:
    with deferring(slow_module):
        pass
    import hatbot_test_slow_module as module

    assert module.__file__ is not None
    assert module.double(1) == 2


def test_a_missing_name_fails_on_first_use(slow_module: str) -> None:
    with deferring(slow_module):
        from hatbot_test_slow_module import nothing_here
    with pytest.raises(AttributeError, match="nothing_here"):
        nothing_here()


def test_a_module_already_imported_is_not_deferred(slow_module: str) -> None:
    import json

    with deferring("json", slow_module):
        from json import dumps

        from hatbot_test_slow_module import double
    assert dumps is json.dumps
    assert "deferred" in repr(double)
    assert slow_module not in sys.modules


def test_gensim_works_with_the_modules_serving_does_not_use_deferred() -> None:
    """Every stand-in gensim keeps names something those modules have; its uses still work."""
    code = textwrap.dedent(
        """
        import sys
        from hatbot.server.cli import UNUSED_BY_SERVING
        from hatbot.server.deferred_import import _Deferred, _DeferredModule, deferring
        with deferring(*UNUSED_BY_SERVING):
            import gensim
        print(any(name in sys.modules for name in UNUSED_BY_SERVING))
        import gensim.matutils, gensim.models.keyedvectors, gensim.models.nmf
        import scipy.optimize, scipy.special, scipy.stats
        stand_ins = sorted(
            f"{module.__name__}.{name}"
            for module in list(sys.modules.values())
            if module.__name__.startswith("gensim")
            for name, value in vars(module).items()
            if isinstance(value, (_Deferred, _DeferredModule))
            and (
                isinstance(value, _DeferredModule)
                or hasattr(sys.modules[value._module], value._name)
            )
        )
        assert gensim.matutils.entropy([0.5, 0.5], [0.9, 0.1]) == scipy.stats.entropy(
            [0.5, 0.5], [0.9, 0.1]
        )
        assert gensim.models.keyedvectors.stats.spearmanr([1, 2, 3], [1, 2, 4])[0] == 1.0
        assert len(gensim.models.nmf.halfnorm.rvs(size=3, random_state=0)) == 3
        optimize = gensim.models.ldaseqmodel.optimize
        assert abs(optimize.fmin_cg(lambda x: (x[0] - 2) ** 2, [0.0], disp=0)[0] - 2) < 1e-3
        assert gensim.matutils.psi(1.0) == scipy.special.psi(1.0)
        assert gensim.models.ldamodel.gammaln(5.0) == scipy.special.gammaln(5.0)
        print(" ".join(stand_ins))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    imported_at_once, *stand_ins = result.stdout.split()
    assert imported_at_once == "False"
    assert stand_ins == [
        "gensim.matutils.entropy",
        "gensim.matutils.psi",
        "gensim.models.atmodel.gammaln",
        "gensim.models.hdpmodel.gammaln",
        "gensim.models.hdpmodel.psi",
        "gensim.models.keyedvectors.stats",
        "gensim.models.ldamodel.gammaln",
        "gensim.models.ldamodel.polygamma",
        "gensim.models.ldamodel.psi",
        "gensim.models.ldaseqmodel.digamma",
        "gensim.models.ldaseqmodel.gammaln",
        "gensim.models.ldaseqmodel.optimize",
        "gensim.models.nmf.halfnorm",
    ]


def test_a_server_never_imports_the_modules_serving_does_not_use(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither starting ``hatbot serve`` nor answering imports them (a third of a cold
    start): Python's import log of the server and its workers names gensim but not them."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    with (
        running_server(tiny_model, "--workers", "2") as server,
        HatClient(server.wait_listening()) as client,
    ):
        for _ in range(4):  # both workers, most likely
            assert client.explain("music", 5)
            client.guess(["music", "band"], 5)
    imported = {line.rsplit("|", 1)[1].strip() for line in server.lines if "import time:" in line}
    assert {"gensim", "gensim.models.keyedvectors", "annoy"} <= imported
    assert not [name for name in UNUSED_BY_SERVING if name in imported], imported
