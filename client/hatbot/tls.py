"""TLS files, read and checked before they are used, for the client and the server alike.

A certificate file must hold at least one PEM certificate, a key file the PEM private key of
the certificate beside it (unencrypted: gRPC takes no passphrase). Every problem is a
:class:`PemError` naming the option or argument that gave the file.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

PathLike = str | Path


class PemError(ValueError):
    """A TLS file that cannot be used: ``field`` names where it came from."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def read(path: PathLike, field: str) -> bytes:
    """The bytes of the file at ``path``."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise PemError(field, f"cannot read {str(path)!r}: {error.strerror or error}") from None


def read_certificates(path: PathLike, field: str) -> bytes:
    """The PEM certificates in ``path`` (a CA bundle or a chain), checked to parse."""
    data = read(path, field)
    try:
        ssl.create_default_context(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise PemError(field, f"{str(path)!r} holds no PEM certificate") from None
    return data


class _EncryptedKeyError(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKeyError  # ssl asks for one only for an encrypted key


def read_key_pair(
    cert: PathLike, key: PathLike, cert_field: str, key_field: str
) -> tuple[bytes, bytes]:
    """The PEM certificate chain and private key, checked to parse and to match."""
    chain = read_certificates(cert, cert_field)
    private_key = read(key, key_field)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, _no_passphrase)
    except _EncryptedKeyError:
        raise PemError(key_field, f"{str(key)!r} is encrypted; give an unencrypted key") from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            problem = f"{str(key)!r} is not the key of the certificate in {str(cert)!r}"
        else:
            problem = f"{str(key)!r} holds no PEM private key"
        raise PemError(key_field, problem) from None
    return chain, private_key


@dataclass(frozen=True)
class TlsConfig:
    """How a client reaches a server over TLS.

    ``ca``: the PEM certificates to trust (default: the system's roots); ``cert`` and
    ``key``: the client's own certificate and key, for a server that asks for one (mutual
    TLS), both or neither; ``server_name``: the name the server's certificate must carry
    over gRPC (default: the host of the address called, the first of several; HTTPS checks
    the URL's host).
    """

    ca: PathLike | None = None
    cert: PathLike | None = None
    key: PathLike | None = None
    server_name: str | None = None

    def load(self, prefix: str = "tls.") -> tuple[bytes | None, bytes | None, bytes | None]:
        """The CA certificates, client chain and client key, read and checked.

        A :class:`PemError` names the field as ``prefix`` + ``ca``, ``cert`` or ``key``.
        """
        for name in ("ca", "cert", "key"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str | Path) or not str(value)):
                raise PemError(f"{prefix}{name}", f"must be a file's path, got {value!r}")
        if (self.cert is None) != (self.key is None):
            given, missing = ("cert", "key") if self.key is None else ("key", "cert")
            raise PemError(f"{prefix}{missing}", f"is required with {prefix}{given}")
        ca = None if self.ca is None else read_certificates(self.ca, f"{prefix}ca")
        chain = key = None
        if self.cert is not None and self.key is not None:
            chain, key = read_key_pair(self.cert, self.key, f"{prefix}cert", f"{prefix}key")
        return ca, chain, key

    def ssl_context(self, prefix: str = "tls.") -> ssl.SSLContext:
        """An ``ssl`` client context for HTTPS (the REST protocol) with these files."""
        ca, _, _ = self.load(prefix)
        context = ssl.create_default_context(cadata=None if ca is None else ca.decode("ascii"))
        if self.cert is not None and self.key is not None:
            context.load_cert_chain(self.cert, self.key)
        return context
