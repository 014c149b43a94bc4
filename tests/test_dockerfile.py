"""Static checks of the Dockerfile: stages, user, entrypoint, built-in model, health check."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"
DEFAULT_GRPC_PORT = 50051  # the default of ``hatbot serve --port``


@dataclass
class Stage:
    """One ``FROM`` section: its name (``AS name``) and its instructions in order."""

    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def logical_lines(text: str) -> list[str]:
    """A Dockerfile's instructions, continuations joined, comments and blank lines dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may also sit inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    return logical


def global_args(text: str) -> dict[str, str | None]:
    """The ``ARG NAME[=default]`` declared before the first FROM (usable in FROM lines)."""
    found: dict[str, str | None] = {}
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        if keyword.upper() != "ARG":
            break
        name, equals, default = args.strip().partition("=")
        found[name] = default if equals else None
    return found


def parse(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of (INSTRUCTION, arguments); only ARG precedes FROM."""
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name))
        if not stages and keyword == "ARG":
            continue  # a global ARG, see global_args()
        assert stages, f"instruction before the first FROM: {line}"
        stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str] | None:
    """The argument list of an exec-form (JSON array) instruction, None for shell form."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def env_vars(stage: Stage) -> dict[str, str]:
    variables: dict[str, str] = {}
    for args in stage.args("ENV"):
        words = shlex.split(args)
        if words and "=" not in words[0]:  # legacy form: ENV KEY value
            variables[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            variables[key] = value
    return variables


def option(command: list[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in an argument list."""
    for i, word in enumerate(command):
        if word == name and i + 1 < len(command):
            return command[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    if not DOCKERFILE.is_file():
        pytest.fail(f"no Dockerfile at {DOCKERFILE}")
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def command(final: Stage) -> list[str]:
    """ENTRYPOINT followed by CMD of the final stage (the last of each counts)."""
    words: list[str] = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = final.args(keyword)
        if found:
            parsed = exec_form(found[-1])
            assert parsed is not None, f"{keyword} must use the exec (JSON array) form"
            words += parsed
    return words


def test_is_multi_stage_with_a_named_build_stage(stages: list[Stage], final: Stage) -> None:
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    named = {stage.name for stage in stages[:-1]} - {None}
    assert named, "the build stage needs a name (FROM ... AS build)"
    sources = {
        word.split("=", 1)[1]
        for args in final.args("COPY")
        for word in args.split()
        if word.startswith("--from=")
    }
    assert sources & named, "the final stage should copy its files from the named build stage"


def test_final_stage_runs_as_non_root(final: Stage) -> None:
    users = final.args("USER")
    assert users, "the final stage has no USER: the server would run as root"
    user = users[-1].split(":")[0].strip()
    assert user not in {"root", "0"}, f"final USER is root: {users[-1]}"


def test_entrypoint_and_cmd_use_exec_form(final: Stage, command: list[str]) -> None:
    assert final.args("ENTRYPOINT") or final.args("CMD"), "no ENTRYPOINT or CMD"
    for keyword in ("ENTRYPOINT", "CMD"):
        for args in final.args(keyword):
            assert exec_form(args) is not None, f"{keyword} {args} is not a JSON array"
    assert command[:2] == ["hatbot", "serve"], command


def test_serves_on_all_interfaces(command: list[str]) -> None:
    """``hatbot serve`` binds 127.0.0.1 by default, unreachable from outside a container."""
    assert option(command, "--host") in {"0.0.0.0", "[::]", "::"}, command


def test_exposes_the_grpc_port(final: Stage, command: list[str]) -> None:
    port = option(command, "--port") or str(DEFAULT_GRPC_PORT)
    exposed = {word.split("/")[0] for args in final.args("EXPOSE") for word in args.split()}
    assert port in exposed, f"gRPC port {port} not in EXPOSE {sorted(exposed)}"


def test_builds_the_default_model(stages: list[Stage]) -> None:
    runs = [args for stage in stages for args in stage.args("RUN")]
    assert any("hatbot train" in args for args in runs), "no RUN ... hatbot train"


def test_serves_the_model_built_into_the_image(
    stages: list[Stage], final: Stage, command: list[str]
) -> None:
    """The trained model is copied into the final stage and is the one served."""
    trains = [
        shlex.split(args)
        for stage in stages[:-1]
        for args in stage.args("RUN")
        if "hatbot train" in args
    ]
    assert trains, "no build stage trains the model"
    out = option(trains[-1], "--out")
    assert out, "hatbot train in the build stage needs an explicit --out"
    served = option(command, "--model") or env_vars(final).get("HATBOT_MODEL_DIR")
    assert served is not None, "the final stage names no model (--model or HATBOT_MODEL_DIR)"
    assert served.rstrip("/") == out.rstrip("/"), (
        f"the image serves {served!r} but the model is built in {out!r}"
    )
    copied = [args.split()[-1].rstrip("/") for args in final.args("COPY") if "--from=" in args]
    assert any(out == dest or out.startswith(dest + "/") for dest in copied), (
        f"the model directory {out} is not copied into the final stage"
    )


def test_healthcheck_runs_hatbot_health(final: Stage, command: list[str]) -> None:
    checks = final.args("HEALTHCHECK")
    assert checks, "the final stage has no HEALTHCHECK"
    check = checks[-1]
    _, _, cmd = check.partition("CMD")
    assert cmd, f"HEALTHCHECK without CMD: {check}"
    words = exec_form(cmd.strip()) or shlex.split(cmd)
    assert words[:2] == ["hatbot", "health"], words
    address = option(words, "--addr")
    if address is not None:
        port = option(command, "--port") or str(DEFAULT_GRPC_PORT)
        assert address.rsplit(":", 1)[-1] == port, f"health check probes {address}"


def test_base_image_is_an_argument_defaulting_to_the_official_slim_image(
    stages: list[Stage],
) -> None:
    """One Dockerfile for a registry and for build.sh's local base (--build-arg)."""
    default = global_args(DOCKERFILE.read_text(encoding="utf-8")).get("PYTHON_IMAGE")
    assert default is not None, "no global ARG PYTHON_IMAGE=... before the first FROM"
    assert default.startswith("python:3.11"), default
    assert "slim" in default, default
    for stage in stages:
        base = stage.args("FROM")[0].split()[0]
        assert base == "${PYTHON_IMAGE}" or base in {s.name for s in stages}, base


def test_parser_understands_the_forms() -> None:
    """The helpers above on a known text, so a parsing slip cannot pass the checks."""
    text = (
        "ARG BASE=img:1\nARG EMPTY\n# comment\nFROM base AS build\nRUN a \\\n    && b\n"
        "FROM base\nENV A=1 \\\n    B=two\nUSER app\n"
        'ENTRYPOINT ["x", "--port=9"]\nCMD run x\n'
    )
    assert global_args(text) == {"BASE": "img:1", "EMPTY": None}
    build, runtime = parse(text)
    assert build.name == "build"
    assert runtime.name is None
    assert [" ".join(args.split()) for args in build.args("RUN")] == ["a && b"]
    assert env_vars(runtime) == {"A": "1", "B": "two"}
    assert exec_form(runtime.args("ENTRYPOINT")[0]) == ["x", "--port=9"]
    assert exec_form(runtime.args("CMD")[0]) is None
    assert option(["x", "--port=9"], "--port") == "9"
