"""HatClient: typed calls to a hatbot server over one reused gRPC channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import grpc

from hatbot.client import calls, channels
from hatbot.client.calls import HatError, ModelInfo
from hatbot.closing import Closing
from hatbot.rules import Criteria
from hatbot.tls import TlsConfig

T = TypeVar("T")


class HatClient(Closing):
    """A connection to a hatbot server, or to several; use as a context manager or call
    :meth:`close`.

    ``target`` is ``"host:port"``; several addresses (a list, or ``"IP:PORT,IP:PORT"``) or a
    ``"dns:///host:port"`` name balance round robin over the replicas that report SERVING
    (see :mod:`hatbot.client.channels`). ``timeout`` is the deadline in seconds of every call
    (the game host allows about 1 s); ``retries`` turns gRPC's automatic retries of
    UNAVAILABLE and RESOURCE_EXHAUSTED on or off (at most 4 attempts within the deadline,
    throttled when many fail). ``tls`` connects over TLS (:class:`hatbot.tls.TlsConfig`:
    the CA to trust, and the client's certificate and key for mutual TLS).

    Every failure, a bad argument included, raises :class:`HatError`. RESOURCE_EXHAUSTED
    means every replica tried was full and shed the call at once, without working on it:
    back off (a few hundred ms, with jitter) before calling again, or count the turn as
    lost; retrying at once only adds to the overload.
    """

    def __init__(
        self,
        target: str | Sequence[str],
        timeout: float = 1.0,
        *,
        retries: bool = True,
        tls: TlsConfig | None = None,
    ) -> None:
        self.timeout = calls.check_client(timeout, retries)
        self._channel = channels.open_channel(channels.channel_spec(target, retries, tls))
        self._stubs = calls.stubs(self._channel)
        self._closed = False

    def close(self) -> None:
        """Close the channel; later calls raise HatError (FAILED_PRECONDITION)."""
        self._closed = True
        self._channel.close()

    def _send(self, call: calls.Call[T]) -> T:
        if self._closed:
            raise calls.closed()
        method = getattr(self._stubs[call.stub], call.method)
        try:
            response = method(call.request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise calls.from_rpc_error(error) from None
        except ValueError:  # grpc's "closed channel", should close() race with the call
            raise calls.closed() from None
        return call.parse(response)

    def explain(self, word: str, n_words: int = 5) -> list[str]:
        """Hints for the secret ``word``, strongest first (empty for an unknown word)."""
        return self._send(calls.explain(word, n_words))

    def guess(
        self, words: Sequence[str], n_words: int = 5, criteria: Criteria | None = None
    ) -> list[str]:
        """Guesses for the word behind the hints ``words`` (in revealed order), best first.

        Tell the host's ``criteria`` ("soft" or "hard") when known: under "soft" a guess may
        share a hint's stem or contain a hint (the soft host keeps such hints); None leaves
        it to the server.
        """
        return self._send(calls.guess(words, n_words, criteria))

    def model_info(self) -> ModelInfo:
        """Describe the server's model."""
        return self._send(calls.model_info())

    def health(self, service: str = "") -> str:
        """The standard health status, ``"SERVING"`` or ``"NOT_SERVING"``.

        ``service`` is ``""`` for the whole server or ``"hatbot.v1.HatService"``; another name
        raises :class:`HatError` with code NOT_FOUND. Over several replicas the call goes to
        one that reports SERVING, and fails UNAVAILABLE when none does.
        """
        return self._send(calls.health(service))


__all__ = ["HatClient", "HatError", "ModelInfo", "TlsConfig"]
