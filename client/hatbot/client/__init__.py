"""Python client of the hatbot gRPC service.

from hatbot.client import HatClient

with HatClient("localhost:50051") as hat:
    hints = hat.explain("river", 5)
    guesses = hat.guess(hints[:2], 5)

:class:`AsyncHatClient` is the same on asyncio (``async with``, ``await hat.explain(...)``).
Every failure raises :class:`HatError`. ``HatClient("host:port", tls=TlsConfig(ca="ca.pem"))``
calls over TLS; several addresses or a ``dns:///`` name balance over healthy replicas.
"""

from hatbot.client.aio import AsyncHatClient
from hatbot.client.calls import HatError, ModelInfo
from hatbot.client.client import HatClient
from hatbot.tls import TlsConfig

__all__ = ["AsyncHatClient", "HatClient", "HatError", "ModelInfo", "TlsConfig"]
