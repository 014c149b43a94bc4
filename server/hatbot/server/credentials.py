"""TLS of ``hatbot serve`` (``--tls-cert``, ``--tls-key``, ``--tls-client-ca``), for the gRPC
port and the REST side alike.

With a client CA the server asks every client for a certificate and refuses the handshake
unless the client presents one that CA signed (mutual TLS). The files are checked once, before
anything starts (:func:`check`), then read by each worker process as it starts and again when
they change: every new connection first looks at their modification times, so renewed
certificates (a Kubernetes Secret updated by cert-manager, say) are served without a restart.
Connections already open keep the certificate they started with. Files that changed into
something unusable (a key that does not match yet, half copied) are refused with one warning
and the previous ones kept until the files change again.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc

from hatbot.tls import PemError, read_certificates, read_key_pair

__all__ = ["PemError", "ServerCredentials", "ServerTls", "check"]

log = logging.getLogger(__name__)


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

    @property
    def files(self) -> tuple[Path, ...]:
        return (
            (self.cert, self.key)
            if self.client_ca is None
            else (self.cert, self.key, self.client_ca)
        )


@dataclass(frozen=True)
class _Material:
    """The files' contents, checked, and the ``ssl`` context of the REST side made from them."""

    chain: bytes
    key: bytes
    client_ca: bytes | None
    context: ssl.SSLContext


def _load(tls: ServerTls) -> _Material:
    chain, key = read_key_pair(tls.cert, tls.key, "--tls-cert", "--tls-key")
    client_ca = None
    if tls.client_ca is not None:
        client_ca = read_certificates(tls.client_ca, "--tls-client-ca")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert, tls.key)
    if client_ca is not None:
        context.load_verify_locations(cadata=client_ca.decode("ascii"))
        context.verify_mode = ssl.CERT_REQUIRED
    return _Material(chain, key, client_ca, context)


def check(tls: ServerTls) -> None:
    """Raise :class:`PemError`, naming the option, unless every file is usable."""
    _load(tls)


Signature = tuple[tuple[int, int, int] | None, ...]


def _signature(files: tuple[Path, ...]) -> Signature:
    """What changes when a file is rewritten or replaced."""
    signature: list[tuple[int, int, int] | None] = []
    for path in files:
        try:
            status = os.stat(path)
        except OSError:
            signature.append(None)
        else:
            signature.append((status.st_ino, status.st_mtime_ns, status.st_size))
    return tuple(signature)


class ServerCredentials:
    """One worker's TLS: gRPC server credentials and an ``ssl`` context for aiohttp, both
    reading the files again when they change (see the module's docstring).

    Raises :class:`PemError` when the files cannot be used at the start.
    """

    def __init__(self, tls: ServerTls) -> None:
        self.tls = tls
        self._lock = threading.Lock()
        self._signature = _signature(tls.files)
        self._refused: Signature | None = None
        self._material = _load(tls)
        self._generation = 0

    def _refresh(self) -> _Material:
        """The newest usable material, read again if the files changed since last time."""
        signature = _signature(self.tls.files)
        with self._lock:
            if signature in (self._signature, self._refused):
                return self._material
            try:
                material = _load(self.tls)
            except (PemError, ssl.SSLError) as error:
                log.warning("TLS files changed but cannot be used, keeping the old ones: %s", error)
                self._refused = signature
                return self._material
            self._signature, self._refused, self._material = signature, None, material
            self._generation += 1
            log.info("TLS certificates reloaded from %s", self.tls.cert)
            return material

    def grpc(self) -> grpc.ServerCredentials:
        """Credentials for ``server.add_secure_port``."""
        served = [self._generation]

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            material = self._refresh()
            with self._lock:
                if served[0] == self._generation:
                    return None
                served[0] = self._generation
            return _grpc_configuration(material)

        return grpc.dynamic_ssl_server_credentials(
            _grpc_configuration(self._material),
            fetch,  # type: ignore[arg-type]  # grpc documents None (no change); its stubs omit it
            require_client_authentication=self.tls.client_ca is not None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The ``ssl`` context of the REST side (TLS 1.2 or later)."""
        first = self._material.context

        def choose(connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _: object) -> None:
            newest = self._refresh().context
            if connection.context is not newest:
                connection.context = newest

        first.sni_callback = choose
        return first


def _grpc_configuration(material: _Material) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.key, material.chain)], root_certificates=material.client_ca
    )
