"""Players of the Hat and the adapters that reach them: in-process, gRPC and the original REST."""

from __future__ import annotations

import importlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from hatbot.client import HatClient
    from hatbot.rules import Criteria
    from hatbot.tls import TlsConfig


@runtime_checkable
class Player(Protocol):
    """Anything that can explain a word and guess one from hints."""

    def explain(self, word: str, n_words: int) -> list[str]:
        """Up to ``n_words`` hints for ``word``, best first."""
        ...

    def guess(self, words: list[str], n_words: int) -> list[str]:
        """Up to ``n_words`` guesses of the word that ``words`` explain, best first."""
        ...


class PlayerTimeoutError(Exception):
    """The player did not answer before its deadline."""


class MalformedAnswerError(Exception):
    """The player's answer is not a list of strings."""


def as_word_list(answer: object) -> list[str]:
    """``answer`` itself when it is a list of strings, else :class:`MalformedAnswerError`."""
    if not isinstance(answer, list) or not all(isinstance(word, str) for word in answer):
        raise MalformedAnswerError(f"not a list of strings: {answer!r:.200}")
    return list(answer)


class GrpcPlayer:
    """A player served over gRPC, reached with :class:`hatbot.client.HatClient`.

    ``criteria``, when given, is sent with every guess so the server knows the host's rules;
    ``tls``, when given, is how to reach the server over TLS.
    """

    def __init__(
        self,
        target: str,
        timeout: float = 1.0,
        criteria: Criteria | None = None,
        tls: TlsConfig | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.criteria = criteria
        self.tls = tls
        self._client: HatClient | None = None
        # A call that outlived its deadline may still run while the next one connects.
        self._lock = threading.Lock()

    def _connected(self) -> HatClient:
        with self._lock:
            if self._client is None:
                # Imported here so that the engine works without the gRPC client library.
                from hatbot.client import HatClient

                self._client = HatClient(self.target, timeout=self.timeout, tls=self.tls)
            return self._client

    def explain(self, word: str, n_words: int) -> list[str]:
        """Ask the server for hints."""
        return self._call(lambda client: client.explain(word, n_words))

    def guess(self, words: list[str], n_words: int) -> list[str]:
        """Ask the server for guesses."""
        return self._call(lambda client: client.guess(words, n_words, self.criteria))

    def _call(self, request: Callable[[HatClient], list[str]]) -> list[str]:
        from hatbot.client import HatError

        try:
            return request(self._connected())
        except HatError as exc:
            if exc.code.name == "DEADLINE_EXCEEDED":
                raise PlayerTimeoutError(str(exc)) from exc
            raise

    def close(self) -> None:
        """Close the channel, if one was opened."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class RestPlayer:
    """A player speaking the original game's REST protocol at ``url``; an ``https://`` URL
    with ``tls`` trusts its CA and presents its client certificate."""

    def __init__(self, url: str, timeout: float = 1.0, tls: TlsConfig | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ssl_context: ssl.SSLContext | None = None
        if tls is not None and self.url.startswith("https://"):
            self._ssl_context = tls.ssl_context()

    def explain(self, word: str, n_words: int) -> list[str]:
        """``GET {url}/explain?word=W&n_words=N``."""
        return self._get("explain", [("word", word), ("n_words", str(n_words))])

    def guess(self, words: list[str], n_words: int) -> list[str]:
        """``GET {url}/guess?words=A&words=B&n_words=N``."""
        return self._get("guess", [*(("words", word) for word in words), ("n_words", str(n_words))])

    def _get(self, path: str, query: list[tuple[str, str]]) -> list[str]:
        url = f"{self.url}/{path}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(
                url, timeout=self.timeout, context=self._ssl_context
            ) as response:
                body = response.read()
        except TimeoutError as exc:
            raise PlayerTimeoutError(f"no answer from {url} in {self.timeout} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise PlayerTimeoutError(f"no connection to {url} in {self.timeout} s") from exc
            raise
        try:
            return as_word_list(json.loads(body))
        except ValueError as exc:
            raise MalformedAnswerError(f"not JSON: {body!r:.200}") from exc

    def close(self) -> None:
        """Nothing to release: every request has its own connection."""


def load_object(spec: str) -> Player:
    """The player named ``module:attr``; a class found there is instantiated without arguments."""
    module_name, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(module_name), attr)
    if isinstance(obj, type):
        obj = obj()
    if not isinstance(obj, Player):
        raise TypeError(f"{spec} has no explain() and guess() methods")
    return obj


#: ``make_player`` reads a target with this prefix as an in-process Python object.
PYTHON_PREFIX = "py:"


def make_player(
    target: str,
    timeout: float = 1.0,
    criteria: Criteria | None = None,
    tls: TlsConfig | None = None,
) -> Player:
    """The player at ``target``.

    ``http://...`` or ``https://...``: the original REST protocol; ``py:module:attr``: a Python
    object in this process (a ``py:`` prefix because ``module:attr`` reads like gRPC's
    ``host:port`` and ``unix:path``); anything else: a gRPC target (one address, several
    separated by commas, or a ``dns:///`` name), told the ``criteria``. ``tls`` is used for
    gRPC targets and ``https://`` URLs.
    """
    if target.startswith(("http://", "https://")):
        return RestPlayer(target, timeout, tls)
    if target.startswith(PYTHON_PREFIX):
        return load_object(target.removeprefix(PYTHON_PREFIX))
    return GrpcPlayer(target, timeout, criteria, tls)
