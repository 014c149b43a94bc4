"""Certificates made in the test session with trustme: a CA, a server certificate it signed,
client certificates from it and from another CA, as PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

from hatbot.tls import TlsConfig

#: The names the server certificate carries.
SERVER_NAMES = ("127.0.0.1", "localhost", "hatbot.test")


@dataclass(frozen=True)
class Certificates:
    """PEM files: ``ca`` signed ``server_*`` and ``client_*``; ``other_ca`` signed ``other_*``."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_cert: Path
    other_key: Path

    def serve_args(self, *, mutual: bool = False) -> tuple[str, ...]:
        """The ``hatbot serve`` options for TLS (with ``mutual``, mutual TLS)."""
        args = ("--tls-cert", str(self.server_cert), "--tls-key", str(self.server_key))
        return (*args, "--tls-client-ca", str(self.ca)) if mutual else args

    def client(self, *, with_cert: bool = True) -> TlsConfig:
        """How a client reaches the server: trusting ``ca``, with its certificate."""
        if not with_cert:
            return TlsConfig(ca=self.ca)
        return TlsConfig(ca=self.ca, cert=self.client_cert, key=self.client_key)

    def stranger(self) -> TlsConfig:
        """A client trusting ``ca`` whose certificate another CA signed."""
        return TlsConfig(ca=self.ca, cert=self.other_cert, key=self.other_key)


def make_certificates(directory: Path) -> Certificates:
    """Write a fresh set of :class:`Certificates` into ``directory``."""
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert(*SERVER_NAMES)
    client = ca.issue_cert("client@hatbot.test")
    other = other_ca.issue_cert("client@elsewhere.test")
    files = Certificates(
        *(directory / name for name in ("ca.pem", "server.pem", "server.key")),
        *(directory / name for name in ("client.pem", "client.key", "other-ca.pem")),
        *(directory / name for name in ("other.pem", "other.key")),
    )
    ca.cert_pem.write_to_path(files.ca)
    other_ca.cert_pem.write_to_path(files.other_ca)
    for issued, cert, key in (
        (server, files.server_cert, files.server_key),
        (client, files.client_cert, files.client_key),
        (other, files.other_cert, files.other_key),
    ):
        issued.private_key_pem.write_to_path(key)
        cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return files
