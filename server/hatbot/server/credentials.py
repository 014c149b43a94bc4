"""TLS of ``hatbot serve`` (``--tls-cert``, ``--tls-key``, ``--tls-client-ca``), for the gRPC
port and the REST side alike.

With a client CA the server asks every client for a certificate and refuses the handshake
unless the client presents one that CA signed (mutual TLS). The files are checked once, before
anything starts (:func:`check`), and read again by each worker process as it starts.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from hatbot.tls import PemError, read_certificates, read_key_pair

__all__ = ["PemError", "ServerTls", "check", "grpc_credentials", "ssl_context"]


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate chain and key, and the CA its clients' certificates need."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @property
    def description(self) -> str:
        """``TLS`` or ``mutual TLS``, for log lines."""
        return "TLS" if self.client_ca is None else "mutual TLS"


def check(tls: ServerTls) -> None:
    """Raise :class:`PemError`, naming the option, unless every file is usable."""
    ssl_context(tls)


def grpc_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """The credentials of the gRPC port."""
    chain, key = read_key_pair(tls.cert, tls.key, "--tls-cert", "--tls-key")
    client_ca = None
    if tls.client_ca is not None:
        client_ca = read_certificates(tls.client_ca, "--tls-client-ca")
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def ssl_context(tls: ServerTls) -> ssl.SSLContext:
    """The ``ssl`` context of the REST side (TLS 1.2 or later)."""
    read_key_pair(tls.cert, tls.key, "--tls-cert", "--tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert, tls.key)
    if tls.client_ca is not None:
        client_ca = read_certificates(tls.client_ca, "--tls-client-ca")
        context.load_verify_locations(cadata=client_ca.decode("ascii"))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
