"""The container image, built once per session by ``deploy/image/build.sh`` and run with podman.

Containers run as an operator runs them in production: read-only root file system without even
a tmpfs (Docker's ``--read-only``), every capability dropped, no new privileges, ports published
on 127.0.0.1 only; each is removed (``podman rm -f``) by name at the end of its test. Without
podman, runc and debootstrap, or without root (debootstrap), the tests skip; under CI they fail.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import grpc
import pytest
from components import missing
from conftest import ROOT, feed_fifo, fifo_model, load_script, train_tiny
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hatbot.client import HatClient, HatError
from hatbot.closing import Closing
from hatbot.server.process import SERVICE_NAME, health_status

BUILD_SCRIPT = ROOT / "deploy/image/build.sh"
IMAGE = "localhost/hatbot:test"
BASELINE = "x86-64-v2"  # the Dockerfile's default ANNOY_MARCH
BUILD_TIMEOUT = 1800.0  # a cold build (base, compiler, wheels, annoy, model) takes about 7 min
WAIT = 60.0  # for one podman command, or for a container to reach a state
GRACE = 10  # podman stop -t: longer than the server's own --grace (5 s)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GRPC_PORT, HTTP_PORT = 50051, 8080  # inside the container (the image's ENTRYPOINT)
PODMAN = ["podman", "--runtime", "runc"]  # crun refuses the hybrid cgroups of these machines
# podman's default ulimits exceed these machines' hard limits
LIMITS = ["--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024"]
RUN_FLAGS = [
    *LIMITS,
    "--read-only",
    "--read-only-tmpfs=false",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
    f"--publish=127.0.0.1::{GRPC_PORT}",
    f"--publish=127.0.0.1::{HTTP_PORT}",
]
# How models on the host are served: a root of versioned model directories (ROOT/1, ROOT/2,
# ...) mounted read-only, as the Kubernetes Deployment mounts its volume.
MODEL_ROOT = "/models"

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + 10 * WAIT)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS`` to completion (bounded); a failure raises with its stderr."""
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=WAIT, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
    return result


def missing_requirement() -> str | None:
    """Why the image cannot be built here, or None."""
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"need {', '.join(missing)}: apt-get install podman runc debootstrap"
    if os.geteuid() != 0:
        return "need root: debootstrap builds the image's local base"
    return None


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> str:
    """The image of this checkout, built by build.sh (its layer cache makes a rebuild quick).

    build.sh's own lines (what it reused, build times, image size) go to the terminal.
    """
    reason = missing_requirement()
    if reason:
        missing(f"container tests {reason}")
    log = tmp_path_factory.mktemp("image") / "build.log"
    with log.open("w") as out:
        result = subprocess.run(
            [str(BUILD_SCRIPT), "--tag", IMAGE],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    lines = log.read_text().splitlines()
    assert result.returncode == 0, f"build.sh failed (exit {result.returncode}):\n" + "\n".join(
        lines[-30:]
    )
    terminal = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            terminal.write_line("")
            for line in lines:
                if line.startswith("build.sh: "):
                    terminal.write_line(line)
    return IMAGE


@pytest.fixture(scope="session")
def inspected(image: str) -> dict[str, Any]:
    """``podman image inspect`` of the image."""
    found: list[dict[str, Any]] = json.loads(podman("image", "inspect", image).stdout)
    return found[0]


class Container(Closing):
    """``podman run --detach`` of an image with :data:`RUN_FLAGS`; removed on close."""

    def __init__(self, image: str, *args: str, volumes: tuple[str, ...] = ()) -> None:
        self.name = f"hatbot-test-{uuid.uuid4().hex[:12]}"
        mounts = [f"--volume={volume}" for volume in volumes]
        podman("run", "--detach", f"--name={self.name}", *RUN_FLAGS, *mounts, image, *args)
        self.address = self.published(GRPC_PORT)

    def close(self) -> None:
        podman("rm", "--force", "--time=0", self.name, check=False)

    def published(self, port: int) -> str:
        """The host's ``127.0.0.1:PORT`` that forwards to the container's ``port``."""
        return podman("port", self.name, f"{port}/tcp").stdout.strip()

    def state(self, field: str) -> str:
        return podman("inspect", "--format", f"{{{{.State.{field}}}}}", self.name).stdout.strip()

    def running(self) -> bool:
        return self.state("Running") == "true"

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return f"{result.stdout}{result.stderr}(container {self.state('Status')})"

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=False)

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The image's own HEALTHCHECK, run once (periodic runs need systemd's timers)."""
        return podman("healthcheck", "run", self.name, check=False)

    def wait_health(self, status: int, service: str = "") -> None:
        """Poll the published health service until it reports ``status`` (bounded)."""
        deadline = time.monotonic() + WAIT
        seen = None
        while time.monotonic() < deadline and self.running():
            seen = health_status(self.address, service)
            if seen == status:
                return
            time.sleep(0.1)
        raise AssertionError(f"{service!r} never {status} (last {seen}); log:\n{self.logs()}")

    def wait_serving(self) -> None:
        for service in ("", SERVICE_NAME):
            self.wait_health(SERVING, service)


StartContainer = Callable[..., Container]


@pytest.fixture
def container(image: str) -> Iterator[StartContainer]:
    """``container(*args, volumes=(...))`` runs the image; every one is removed afterwards."""
    started: list[Container] = []

    def start(*args: str, volumes: tuple[str, ...] = ()) -> Container:
        started.append(Container(image, *args, volumes=volumes))
        return started[-1]

    yield start
    for each in started:
        each.close()


def rest(address: str, path: str, **params: Any) -> tuple[int, Any]:
    """GET ``path?params`` from the REST side at ``address``; the status and decoded JSON."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        conn.request("GET", f"{path}?{urlencode(params, doseq=True)}")
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_image_metadata(inspected: dict[str, Any]) -> None:
    """OCI labels from setup.cfg and git, a numeric non-root user, the HEALTHCHECK kept."""
    labels = inspected["Config"]["Labels"]
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert labels["org.opencontainers.image.version"] == setup["metadata"]["version"]
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    if head.returncode == 0:
        revision = labels["org.opencontainers.image.revision"]
        assert revision.removesuffix("-dirty") == head.stdout.strip()
    assert inspected["Config"]["User"] == "10001:10001"
    assert inspected["Config"]["Entrypoint"][:2] == ["hatbot", "serve"]
    # podman's default (OCI) format would drop it
    assert inspected["Healthcheck"]["Test"] == [
        "CMD",
        "hatbot",
        "health",
        "--addr",
        "127.0.0.1:50051",
    ]


def test_compiled_extensions_stay_within_the_baseline(
    image: str, inspected: dict[str, Any], tmp_path: Path
) -> None:
    """Built without -march=native: every instruction runs on any CPU of the baseline level."""
    labels = inspected["Config"]["Labels"]
    assert labels["hatbot.annoy.march"] == BASELINE
    flags = labels["hatbot.annoy.compiler-args"].split(",")
    assert f"-march={BASELINE}" in flags
    assert not [flag for flag in flags if "native" in flag], flags
    shell = ["run", "--rm", *LIMITS, "--entrypoint=python3", image, "-c"]
    recorded = podman(*shell, "print(open('/opt/hatbot/annoy-compiler-args').read(), end='')")
    assert recorded.stdout.strip() == labels["hatbot.annoy.compiler-args"]

    # annoy's, and hatbot's ranking, compiled with the base image's Python flags.
    for module, least in (("annoy.annoylib", 10_000), ("hatbot.server._ranking", 200)):
        copy = subprocess.run(
            [
                *PODMAN,
                *shell,
                f"import sys, {module} as m; "
                "sys.stdout.buffer.write(open(m.__file__, 'rb').read())",
            ],
            capture_output=True,
            timeout=WAIT,
            check=False,
        )
        assert copy.returncode == 0, copy.stderr
        extension = tmp_path / f"{module}.so"
        extension.write_bytes(copy.stdout)
        report = load_script("tools/check_isa.py", "check_isa").check(extension, BASELINE)
        assert report.instructions > least  # the whole extension was decoded
        assert report.ok, f"{module}: {report.summary()}"


def test_the_built_in_model_answers_over_grpc_and_rest(container: StartContainer) -> None:
    """SERVING, Explain and Guess on both protocols, healthy, non-root, read-only root."""
    bot = container()
    bot.wait_serving()
    with HatClient(bot.address, timeout=10) as hat:
        assert hat.model_info().name == "default"
        hints = hat.explain("river", 5)
        guesses = hat.guess(hints[:2], 5)
    assert len(hints) == 5
    assert len(guesses) == 5
    http_address = bot.published(HTTP_PORT)
    assert rest(http_address, "/explain", word="river", n_words=5) == (200, hints)
    assert rest(http_address, "/guess", words=hints[:2], n_words=5) == (200, guesses)
    assert rest(http_address, "/explain", word="r1ver", n_words=5)[0] == 400

    check = bot.healthcheck()
    assert check.returncode == 0, check
    users = podman("top", bot.name, "user", "huser").stdout.split("\n")[1:]
    assert {line.split()[1] for line in users if line.strip()} == {"10001"}, users
    # /tmp, writable by anyone, is on the read-only root: the server needs no tmpfs
    write = bot.exec("python3", "-c", "open('/tmp/probe', 'w')")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr, write.stderr


def test_a_mounted_model_is_not_serving_until_loaded(
    container: StartContainer,
    tiny_model: Path,
    tiny_manifest: dict[str, Any],
    hat_server: str,
    tmp_path: Path,
) -> None:
    """A host model root mounted read-only; the model's vectors a named pipe that the test
    feeds (one worker: one reader), so the container is held in loading: NOT_SERVING and
    unhealthy, then SERVING that model."""
    model = tmp_path / "root" / "1"
    vectors = fifo_model(tiny_model, model)
    bot = container(
        "--model-root",
        MODEL_ROOT,
        "--workers",
        "1",
        volumes=(f"{model.parent}:{MODEL_ROOT}:ro",),
    )
    bot.wait_health(NOT_SERVING)
    bot.wait_health(NOT_SERVING, SERVICE_NAME)
    assert bot.healthcheck().returncode != 0
    with (
        HatClient(bot.address, timeout=10, retries=False) as hat,
        pytest.raises(HatError) as caught,
    ):
        hat.explain("river", 3)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE

    feed_fifo(model / "vectors.kv", vectors, bot.running, bot.logs)
    bot.wait_serving()
    assert bot.healthcheck().returncode == 0
    with HatClient(bot.address, timeout=10) as hat:
        assert hat.model_info().version == tiny_manifest["version"]
        hints = hat.explain("river", 3)
    with HatClient(hat_server, timeout=10) as local:  # the same model served outside
        assert hints == local.explain("river", 3)


def test_sighup_moves_a_container_to_a_new_model_version(
    container: StartContainer, tiny_model: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    """A version copied into the mounted root is served after ``podman kill --signal HUP``."""
    root = tmp_path / "root"
    shutil.copytree(tiny_model, root / "1")
    bot = container("--model-root", MODEL_ROOT, volumes=(f"{root}:{MODEL_ROOT}:ro",))
    bot.wait_serving()
    with HatClient(bot.address, timeout=10) as hat:
        first = hat.model_info().version
    new = json.loads((train_tiny(tiny_corpus, root / "2", seed=2) / "manifest.json").read_text())
    podman("kill", "--signal", "HUP", bot.name)
    deadline = time.monotonic() + WAIT
    with HatClient(bot.address, timeout=10) as hat:
        while hat.model_info().version != new["version"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hat.model_info().version == new["version"] != first, bot.logs()
        assert hat.explain("river", 3)


def test_sigterm_drains_and_exits_0_within_the_grace_period(container: StartContainer) -> None:
    """``podman stop`` sends SIGTERM to the server itself (PID 1): a watcher sees NOT_SERVING,
    and the server exits 0 before the grace period ends (after it podman kills: 137)."""
    bot = container()
    bot.wait_serving()
    with grpc.insecure_channel(bot.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=WAIT)
        try:
            assert next(stream).status == SERVING
            stop = subprocess.Popen(
                [*PODMAN, "stop", f"--time={GRACE}", bot.name],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                assert next(stream).status == NOT_SERVING
                stopped = stop.wait(GRACE + WAIT)
            finally:
                if stop.poll() is None:
                    stop.kill()
                    stop.wait(WAIT)
        finally:
            stream.cancel()
    assert stopped == 0
    log = bot.logs()
    assert bot.state("ExitCode") == "0", log
    assert "received SIGTERM" in log
    assert "stopped" in log
