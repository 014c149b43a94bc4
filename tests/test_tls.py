"""TLS and mutual TLS: real ``hatbot serve --tls-cert ...`` processes on the tiny model, with
certificates made in the session, called over gRPC (both clients, the CLI) and REST."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from certs import SERVER_NAMES, Certificates
from conftest import StartServer, running_server

from hatbot.client import AsyncHatClient, HatClient, HatError, TlsConfig
from hatbot.server.process import WAIT_SECONDS, ServerProcess

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def tls_server(tiny_model: Path, certificates: Certificates) -> Iterator[ServerProcess]:
    """A SERVING server on TLS (gRPC and REST), one worker."""
    args = (*certificates.serve_args(), "--http-port", "0", "--workers", "1", "--grace", "1")
    with running_server(tiny_model, *args, tls=certificates.client(with_cert=False)) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(tiny_model: Path, certificates: Certificates) -> Iterator[ServerProcess]:
    """A SERVING server on mutual TLS: clients need a certificate the test CA signed."""
    args = (*certificates.serve_args(mutual=True), "--http-port", "0", "--workers", "1")
    with running_server(tiny_model, *args, "--grace", "1", tls=certificates.client()) as server:
        yield server


def rest_get(url: str, path: str, tls: TlsConfig | None) -> tuple[int, object]:
    """GET ``url + path`` over HTTPS with ``tls`` (plain HTTP without); status and JSON body."""
    host, _, port = url.split("://")[1].rpartition(":")
    if tls is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(
            host, int(port), timeout=WAIT_SECONDS
        )
    else:
        conn = http.client.HTTPSConnection(
            host, int(port), timeout=WAIT_SECONDS, context=tls.ssl_context()
        )
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def refused_over_rest(url: str, tls: TlsConfig | None) -> Exception:
    """The error of a REST request the server must refuse at the TLS layer."""
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)) as caught:
        rest_get(url, "/explain?word=river&n_words=3", tls)
    return caught.value


def refused_over_grpc(address: str, tls: TlsConfig | None) -> HatError:
    """The error of an Explain call the server must refuse at the TLS layer."""
    with HatClient(address, timeout=5.0, tls=tls) as hat, pytest.raises(HatError) as caught:
        hat.explain("river", 3)
    assert caught.value.code.name == "UNAVAILABLE", caught.value
    return caught.value


def test_calls_over_tls(tls_server: ServerProcess, certificates: Certificates) -> None:
    address = tls_server.wait_listening()
    tls = certificates.client(with_cert=False)
    with HatClient(address, tls=tls) as hat:
        hints = hat.explain("river", 3)
        assert len(hints) == 3
        assert hat.health() == "SERVING"

    async def over_aio() -> list[str]:
        async with AsyncHatClient(address, tls=tls) as hat:
            return await hat.guess(hints[:2], 3)

    assert len(asyncio.run(over_aio())) == 3
    assert tls_server.wait_http().startswith("https://")
    status, body = rest_get(tls_server.wait_http(), "/explain?word=river&n_words=3", tls)
    assert (status, body) == (200, hints)


def test_the_log_says_tls(tls_server: ServerProcess, mtls_server: ServerProcess) -> None:
    assert "listening on 127.0.0.1:" in tls_server.log
    assert " with TLS" in tls_server.log
    assert "http listening" in tls_server.log
    assert tls_server.log.count(" with mutual TLS") == 0
    assert mtls_server.log.count(" with mutual TLS") == 2  # gRPC and REST


def test_a_plaintext_client_fails_against_a_tls_server(tls_server: ServerProcess) -> None:
    refused_over_grpc(tls_server.wait_listening(), None)
    refused_over_rest(tls_server.wait_http().replace("https://", "http://"), None)


def test_a_client_that_does_not_trust_the_ca_fails(
    tls_server: ServerProcess, certificates: Certificates
) -> None:
    other = TlsConfig(ca=certificates.other_ca)
    refused_over_grpc(tls_server.wait_listening(), other)
    error = refused_over_rest(tls_server.wait_http(), other)
    assert isinstance(error, ssl.SSLCertVerificationError)


def test_the_server_name_is_checked(tls_server: ServerProcess, certificates: Certificates) -> None:
    address = tls_server.wait_listening()
    named = TlsConfig(ca=certificates.ca, server_name="hatbot.test")  # in the certificate
    with HatClient(address, tls=named) as hat:
        assert hat.health() == "SERVING"
    refused_over_grpc(address, TlsConfig(ca=certificates.ca, server_name="elsewhere.test"))


def test_mutual_tls_accepts_a_client_certificate_from_its_ca(
    mtls_server: ServerProcess, certificates: Certificates
) -> None:
    with HatClient(mtls_server.wait_listening(), tls=certificates.client()) as hat:
        assert len(hat.explain("river", 3)) == 3
    status, body = rest_get(mtls_server.wait_http(), "/", certificates.client())
    assert status == 200
    assert isinstance(body, dict)
    assert body["status"] == "ok"


@pytest.mark.parametrize("client", ["no certificate", "another CA's certificate"])
def test_mutual_tls_refuses_other_clients(
    mtls_server: ServerProcess, certificates: Certificates, client: str
) -> None:
    tls = (
        certificates.stranger()
        if client != "no certificate"
        else certificates.client(with_cert=False)
    )
    refused_over_grpc(mtls_server.wait_listening(), tls)
    refused_over_rest(mtls_server.wait_http(), tls)
    # The refusals did no harm: a proper client is still served.
    with HatClient(mtls_server.wait_listening(), tls=certificates.client()) as hat:
        assert hat.health() == "SERVING"


def test_health_command_over_mutual_tls(
    mtls_server: ServerProcess, certificates: Certificates, cli: Cli
) -> None:
    address = mtls_server.wait_listening()
    files = ("--tls-ca", str(certificates.ca), "--tls-cert", str(certificates.client_cert))
    done = cli("health", "--addr", address, *files, "--tls-key", str(certificates.client_key))
    assert (done.returncode, done.stdout.strip()) == (0, "SERVING"), done.stderr
    done = cli("health", "--addr", address, "--tls-ca", str(certificates.ca))
    assert done.returncode == 1
    assert "UNAVAILABLE" in done.stderr


def test_cli_tls_defaults_come_from_the_environment(
    mtls_server: ServerProcess,
    certificates: Certificates,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HATBOT_TLS_CA", str(certificates.ca))
    monkeypatch.setenv("HATBOT_TLS_CERT", str(certificates.client_cert))
    monkeypatch.setenv("HATBOT_TLS_KEY", str(certificates.client_key))
    monkeypatch.setenv("HATBOT_TLS_SERVER_NAME", "hatbot.test")
    done = cli("explain", "river", "-n", "2", "--addr", mtls_server.wait_listening())
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 2


@pytest.mark.parametrize(
    ("args", "named", "problem"),
    [
        (
            ("--tls-ca", "missing.pem"),
            "--tls-ca",
            "cannot read 'missing.pem': No such file or directory",
        ),
        (("--tls-cert", "{client_cert}"), "--tls-key", "is required with --tls-cert"),
        (("--tls-key", "{client_key}"), "--tls-cert", "is required with --tls-key"),
        (("--tls-ca", "{client_key}"), "--tls-ca", "'{client_key}' holds no PEM certificate"),
        (
            ("--tls-cert", "{client_cert}", "--tls-key", "{other_key}"),
            "--tls-key",
            "'{other_key}' is not the key of the certificate in '{client_cert}'",
        ),
    ],
)
def test_cli_refuses_bad_tls_files_before_calling(
    certificates: Certificates, cli: Cli, args: tuple[str, ...], named: str, problem: str
) -> None:
    files = {name: str(path) for name, path in vars(certificates).items()}
    done = cli("health", "--addr", "127.0.0.1:1", *(arg.format(**files) for arg in args))
    assert done.returncode == 2, done.stderr
    expected = f"hatbot health: error: argument {named}: {problem.format(**files)}"
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(expected), done.stderr
    assert done.stderr.endswith(" (see hatbot health --help)\n")


@pytest.mark.parametrize(
    ("tls", "field", "problem"),
    [
        (TlsConfig(cert="c.pem"), "tls.key", "is required with tls.cert"),
        (TlsConfig(ca="missing.pem"), "tls.ca", "cannot read 'missing.pem'"),
        (TlsConfig(ca=42), "tls.ca", "must be a file's path"),  # type: ignore[arg-type]
        (TlsConfig(server_name=""), "tls.server_name", "must be a host name"),
        ("ca.pem", "tls", "must be a TlsConfig or None"),
    ],
)
def test_clients_refuse_bad_tls_arguments(tls: object, field: str, problem: str) -> None:
    with pytest.raises(HatError) as caught:
        HatClient("127.0.0.1:1", tls=tls)  # type: ignore[arg-type]
    error = caught.value
    assert error.code.name == "INVALID_ARGUMENT"
    assert error.details.startswith(f"{field}: {problem}"), error.details
    assert error.field_violations[0][0] == field


def serve(cli: Cli, tiny_model: Path, *args: str) -> tuple[int, list[str]]:
    """Run ``hatbot serve`` on the tiny model with ``args``: its exit code and stderr lines."""
    done = cli("serve", "--model", str(tiny_model), "--port", "0", "--workers", "1", *args)
    return done.returncode, done.stderr.strip().splitlines()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--tls-cert", "{server_cert}"), 2, "--tls-cert needs --tls-key"),
        (("--tls-key", "{server_key}"), 2, "--tls-key needs --tls-cert"),
        (("--tls-client-ca", "{ca}"), 2, "--tls-client-ca needs --tls-cert"),
        (
            ("--tls-cert", "missing.pem", "--tls-key", "{server_key}"),
            1,
            "--tls-cert: cannot read 'missing.pem': No such file or directory",
        ),
        (
            ("--tls-cert", "{server_cert}", "--tls-key", "{client_key}"),
            1,
            "--tls-key: '{client_key}' is not the key of the certificate in '{server_cert}'",
        ),
        (
            ("--tls-cert", "{server_key}", "--tls-key", "{server_key}"),
            1,
            "--tls-cert: '{server_key}' holds no PEM certificate",
        ),
        (
            ("--tls-cert", "{server_cert}", "--tls-key", "{server_cert}"),
            1,
            "--tls-key: '{server_cert}' holds no PEM private key",
        ),
        (
            ("--tls-cert", "{server_cert}", "--tls-key", "{server_key}", "--tls-client-ca", "."),
            1,
            "--tls-client-ca: cannot read '.': Is a directory",
        ),
    ],
)
def test_serve_refuses_bad_tls_options_before_starting(
    tiny_model: Path,
    certificates: Certificates,
    cli: Cli,
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    files = {name: str(path) for name, path in vars(certificates).items()}
    returncode, lines = serve(cli, tiny_model, *(arg.format(**files) for arg in args))
    assert (returncode, lines) == (code, [f"hatbot serve: {message.format(**files)}"])


def test_serve_refuses_an_encrypted_key(
    tiny_model: Path, certificates: Certificates, tmp_path: Path, cli: Cli
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certificates.server_key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    returncode, lines = serve(
        cli, tiny_model, "--tls-cert", str(certificates.server_cert), "--tls-key", str(encrypted)
    )
    assert returncode == 1
    assert lines == [
        f"hatbot serve: --tls-key: '{encrypted}' is encrypted; give an unencrypted key"
    ]


def test_play_reaches_grpc_and_https_players_over_mutual_tls(
    mtls_server: ServerProcess, certificates: Certificates, cli: Cli, tmp_path: Path
) -> None:
    words = tmp_path / "words.txt"
    words.write_text("river\nmusic\n")
    files = ("--tls-ca", str(certificates.ca), "--tls-cert", str(certificates.client_cert))
    done = cli(
        "play",
        "--player",
        f"grpc={mtls_server.wait_listening()}",
        "--player",
        f"rest={mtls_server.wait_http()}",
        "--words",
        str(words),
        "--log",
        str(tmp_path / "game.jsonl"),
        *files,
        "--tls-key",
        str(certificates.client_key),
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in (tmp_path / "game.jsonl").read_text().splitlines()]
    calls = [line for line in lines if line["event"] == "call"]
    assert {call["player"] for call in calls} == {"grpc", "rest"}
    assert [call for call in calls if call["status"] != "ok"] == []


def replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` as a Secret update or a careful operator would: whole, by rename."""
    staged = path.with_suffix(".new")
    staged.write_bytes(data)
    os.replace(staged, path)


def test_renewed_certificates_are_served_without_a_restart(
    tiny_model: Path, certificates: Certificates, server_factory: StartServer, tmp_path: Path
) -> None:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(certificates.server_cert, cert)
    shutil.copy(certificates.server_key, key)
    args = ("--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(certificates.ca))
    old = certificates.client()
    server = server_factory(tiny_model, *args, "--http-port", "0", "--workers", "1", tls=old)
    address = server.wait_serving()
    renewed_ca = trustme.CA()
    renewed = renewed_ca.issue_cert(*SERVER_NAMES)
    new = TlsConfig(ca=tmp_path / "renewed-ca.pem", cert=old.cert, key=old.key)
    renewed_ca.cert_pem.write_to_path(str(new.ca))
    with HatClient(address, tls=old) as open_before:
        assert open_before.health() == "SERVING"
        # The key first: until the certificate follows, the pair does not match and the
        # server keeps the old one (with one warning).
        replace_file(key, renewed.private_key_pem.bytes())
        for _ in range(3):
            with HatClient(address, tls=old) as hat:
                assert hat.health() == "SERVING"
        replace_file(cert, b"".join(blob.bytes() for blob in renewed.cert_chain_pems))
        with HatClient(address, tls=new) as hat:
            assert len(hat.explain("river", 3)) == 3
        status, _ = rest_get(server.wait_http(), "/", new)
        assert status == 200
        refused_over_grpc(address, old)
        refused_over_rest(server.wait_http(), old)
        assert open_before.health() == "SERVING", "a connection keeps its certificate"
    assert server.log.count("TLS files changed but cannot be used") == 1, server.log
    assert "is not the key of the certificate" in server.log
    assert "TLS certificates reloaded" in server.log
