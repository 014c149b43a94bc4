"""AsyncHatClient: HatClient's calls on grpc.aio, for asyncio programs."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self, TypeVar

import grpc

from hatbot.client import calls, channels
from hatbot.client.calls import ModelInfo
from hatbot.rules import Criteria
from hatbot.tls import TlsConfig

T = TypeVar("T")


class AsyncHatClient:
    """:class:`hatbot.client.HatClient` for asyncio: the same methods, arguments, defaults,
    targets, TLS, balancing, deadline, retries and errors, each method awaited.

    Make it inside a running event loop and use ``async with``, or ``await close()``::

        async with AsyncHatClient("localhost:50051") as hat:
            hints = await hat.explain("river", 5)
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
        self._channel = channels.open_aio_channel(channels.channel_spec(target, retries, tls))
        self._stubs = calls.stubs(self._channel)
        self._closed = False

    async def close(self) -> None:
        """Close the channel; later calls raise HatError (FAILED_PRECONDITION)."""
        self._closed = True
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send(self, call: calls.Call[T]) -> T:
        if self._closed:
            raise calls.closed()
        method = getattr(self._stubs[call.stub], call.method)
        try:
            response = await method(call.request, timeout=self.timeout)
        except grpc.RpcError as error:  # grpc.aio.AioRpcError
            raise calls.from_rpc_error(error) from None
        except grpc.aio.UsageError:  # the channel was closed while the call started
            raise calls.closed() from None
        return call.parse(response)

    async def explain(self, word: str, n_words: int = 5) -> list[str]:
        """Hints for the secret ``word``, strongest first (empty for an unknown word)."""
        return await self._send(calls.explain(word, n_words))

    async def guess(
        self, words: Sequence[str], n_words: int = 5, criteria: Criteria | None = None
    ) -> list[str]:
        """Guesses for the word behind the hints ``words``; see HatClient.guess."""
        return await self._send(calls.guess(words, n_words, criteria))

    async def model_info(self) -> ModelInfo:
        """Describe the server's model."""
        return await self._send(calls.model_info())

    async def health(self, service: str = "") -> str:
        """The standard health status, ``"SERVING"`` or ``"NOT_SERVING"``; see HatClient."""
        return await self._send(calls.health(service))
