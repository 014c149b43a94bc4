"""How HatClient and AsyncHatClient make their gRPC channel: the target, TLS and the service
config (load balancing, client-side health checking, retries).

Targets:

* ``"host:port"``: one server. Calls go to it whatever its health says, so a lone server
  that drains (NOT_SERVING during ``--drain-delay``) still answers them.
* Several addresses, as a list or a comma-separated string (``"10.0.0.1:50051,10.0.0.2:50051"``,
  IP literals: gRPC's static ``ipv4:``/``ipv6:`` resolvers take no names), or a resolver URI
  such as ``"dns:///hatbot.default.svc:50051"`` (every address the name resolves to, looked
  up again when connections drop, e.g. at the server's ``--max-connection-age``):
  round robin over the replicas whose ``hatbot.v1.HatService`` health is SERVING. gRPC
  keeps a health Watch stream open to every replica (gRFC A17), so a replica that turns
  NOT_SERVING or dies gets no new calls.

Retries (with ``retries=True``): UNAVAILABLE (no server, or one still loading; a replica
that died under the call) and RESOURCE_EXHAUSTED (a replica shedding load at once, before
doing any work) are retried by gRPC itself, up to 4 attempts in all, with 50 ms backoff
doubling to 0.5 s, within the call's one deadline; under round robin a retry goes to the
next replica. Retry throttling (gRFC A6) bounds the extra load: each failed attempt costs
a token, each success earns a tenth of one back, and while half of the 100 tokens are gone
nothing is retried, so an overloaded service is not sent more than about 10 % more calls.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from hatbot.client.calls import HEALTH_SERVICE_NAME, SERVICE_NAME, HatError, invalid_argument
from hatbot.tls import PemError, TlsConfig

#: The schemes of gRPC's own resolvers that name several servers.
BALANCED_SCHEMES = ("dns:", "ipv4:", "ipv6:")
_SCHEME_PREFIXES = (*BALANCED_SCHEMES, "unix:", "unix-abstract:", "vsock:", "xds:")

_RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
}
_RETRY_THROTTLING = {"maxTokens": 100, "tokenRatio": 0.1}
_HEALTH_CHECKED_ROUND_ROBIN = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": SERVICE_NAME},
}


@dataclass(frozen=True)
class ChannelSpec:
    """What to make a channel with: ``grpc.secure_channel(target, credentials, options)``,
    or an insecure channel when ``credentials`` is None."""

    target: str
    credentials: grpc.ChannelCredentials | None
    options: list[tuple[str, int | str]]


def _bad_target(target: object) -> HatError:
    return invalid_argument(
        "target",
        "must be an address such as 'host:port', several such addresses, or a "
        f"'dns:///host:port' name, got {target!r}",
    )


def _ip_address(entry: str) -> tuple[int, str]:
    """The IP version and the ``ipv4:``/``ipv6:`` form of one ``IP:PORT`` of a list."""
    host, _, port = entry.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        address, number = None, 0
    if address is None or not 0 < number < 2**16:
        raise invalid_argument(
            "target",
            "each of several addresses must be IP:PORT (gRPC resolves no names in a list; "
            f"for a name use 'dns:///NAME:PORT'), got {entry!r}",
        )
    shown = f"[{address}]" if address.version == 6 else str(address)
    return address.version, f"{shown}:{number}"


def _addresses(target: object) -> list[str]:
    """The target as a list of one gRPC target or of several ``IP:PORT``."""
    if isinstance(target, str):
        if target.startswith(_SCHEME_PREFIXES) or "," not in target:
            entries = [target]
        else:
            entries = target.split(",")
    elif isinstance(target, Sequence) and target and all(isinstance(t, str) for t in target):
        entries = list(target)
    else:
        raise _bad_target(target)
    if not all(entry.strip() for entry in entries):
        raise _bad_target(target)
    return [entry.strip() for entry in entries]


def service_config(balanced: bool, retries: bool) -> dict[str, Any]:
    """The channel's service config (see the module's docstring)."""
    config: dict[str, Any] = dict(_HEALTH_CHECKED_ROUND_ROBIN) if balanced else {}
    if retries:
        config["methodConfig"] = [
            {
                "name": [{"service": SERVICE_NAME}, {"service": HEALTH_SERVICE_NAME}],
                "retryPolicy": _RETRY_POLICY,
            }
        ]
        config["retryThrottling"] = _RETRY_THROTTLING
    return config


def _credentials(tls: object) -> grpc.ChannelCredentials | None:
    if tls is None:
        return None
    if not isinstance(tls, TlsConfig):
        raise invalid_argument("tls", f"must be a TlsConfig or None, got {type(tls).__name__}")
    if tls.server_name is not None and (
        not isinstance(tls.server_name, str) or not tls.server_name.strip()
    ):
        raise invalid_argument("tls.server_name", f"must be a host name, got {tls.server_name!r}")
    try:
        ca, chain, key = tls.load()
    except PemError as error:
        raise invalid_argument(error.field, error.problem) from None
    return grpc.ssl_channel_credentials(ca, key, chain)


def channel_spec(target: object, retries: bool, tls: object) -> ChannelSpec:
    """The channel for ``target`` (see the module's docstring), or a HatError naming the
    argument that is wrong."""
    entries = _addresses(target)
    options: list[tuple[str, int | str]] = [
        ("grpc.enable_retries", int(retries)),
        # While calls (or health Watch streams) are open, ping every 30 s, so that a replica
        # that vanished without closing its connections is found within 40 s. The server
        # allows pings this often (hatbot.server.worker.grpc_options).
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
    ]
    if len(entries) == 1:
        channel_target = entries[0]
        balanced = channel_target.startswith(BALANCED_SCHEMES)
    else:
        parsed = [_ip_address(entry) for entry in entries]
        versions = {version for version, _ in parsed}
        if len(versions) > 1:
            raise invalid_argument(
                "target", f"several addresses must be all IPv4 or all IPv6, got {target!r}"
            )
        channel_target = f"ipv{versions.pop()}:" + ",".join(address for _, address in parsed)
        balanced = True
        # The authority (and so the name TLS checks) of a list is its first address.
        options.append(("grpc.default_authority", parsed[0][1]))
    config = service_config(balanced, retries)
    if config:
        options.append(("grpc.service_config", json.dumps(config)))
    credentials = _credentials(tls)
    if isinstance(tls, TlsConfig) and tls.server_name is not None:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return ChannelSpec(channel_target, credentials, options)


def open_channel(spec: ChannelSpec) -> grpc.Channel:
    """A blocking channel made as ``spec`` says."""
    if spec.credentials is None:
        return grpc.insecure_channel(spec.target, options=spec.options)
    return grpc.secure_channel(spec.target, spec.credentials, options=spec.options)


def open_aio_channel(spec: ChannelSpec) -> grpc.aio.Channel:
    """A grpc.aio channel made as ``spec`` says (inside a running event loop)."""
    if spec.credentials is None:
        return grpc.aio.insecure_channel(spec.target, options=spec.options)
    return grpc.aio.secure_channel(spec.target, spec.credentials, options=spec.options)
