"""Ports shared by a server's worker processes, and refused when another process holds them.

Each worker binds the same port with SO_REUSEPORT and the kernel spreads connections over
them, as in grpc's ``examples/python/multiprocessing``. The parent first checks that nobody
else holds the port (a socket without SO_REUSEPORT cannot bind a port that a listening socket
holds), then keeps a bound, non-listening socket with SO_REUSEPORT on it for its whole life:
it reserves the port between worker restarts and fixes the number when 0 asked for a free one.
"""

from __future__ import annotations

import socket
from typing import Any

from hatbot.closing import Closing


class PortInUseError(OSError):
    """The port is held by another process, or cannot be bound at all."""


def grpc_address(host: str, port: int) -> str:
    """``host:port`` as gRPC wants it (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ReservedPort(Closing):
    """``host``:``port`` reserved for this process and its children; ``port`` 0 picks one."""

    def __init__(self, host: str, port: int, name: str = "port") -> None:
        try:
            family, _, _, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
        except socket.gaierror as error:
            raise PortInUseError(f"cannot resolve --host {host!r}: {error}") from None
        if port != 0:
            self._refuse_if_held(family, address, name)
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self._socket.bind(address)
        except OSError as error:
            self._socket.close()
            raise PortInUseError(
                f"cannot bind {name} {grpc_address(host, port)}: {error}"
            ) from None
        self.host = host
        self.port: int = self._socket.getsockname()[1]

    @staticmethod
    def _refuse_if_held(family: socket.AddressFamily, address: Any, name: str) -> None:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            try:
                probe.bind(address)
            except OSError as error:
                raise PortInUseError(
                    f"cannot bind {name} {address[0]}:{address[1]}: {error.strerror} "
                    "(another process holds it?)"
                ) from None

    @property
    def address(self) -> str:
        """The reserved ``host:port``, for gRPC."""
        return grpc_address(self.host, self.port)

    def close(self) -> None:
        """Give the reservation up (workers that have bound the port keep it)."""
        self._socket.close()
