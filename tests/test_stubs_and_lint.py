"""The committed gRPC stubs match the contract, and buf lints and formats it cleanly."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / "client" / "hatbot" / "v1"
BUF = ROOT / "node_modules" / ".bin" / "buf"


def load_generator() -> ModuleType:
    return load_script("tools/generate_stubs.py", "generate_stubs")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Stubs freshly generated from proto/, by path relative to the hatbot/v1 package."""
    out = tmp_path_factory.mktemp("stubs")
    paths = load_generator().generate(out)
    package = out / "hatbot" / "v1"
    assert paths, "generate() wrote nothing"
    assert all(path.parent == package for path in paths), paths
    return {path.name: path.read_bytes() for path in paths}


def test_generated_the_expected_files(generated: dict[str, bytes]) -> None:
    assert set(generated) == {
        "hatbot_pb2.py",
        "hatbot_pb2.pyi",
        "hatbot_pb2_grpc.py",
        "hatbot_pb2_grpc.pyi",
    }


def test_committed_stubs_are_up_to_date(generated: dict[str, bytes]) -> None:
    committed = {
        p.name for p in STUBS.iterdir() if "_pb2" in p.name and p.suffix in (".py", ".pyi")
    }
    assert committed == set(generated), "client/hatbot/v1 has missing or extra generated files"
    stale = [name for name, data in generated.items() if (STUBS / name).read_bytes() != data]
    assert not stale, (
        f"stale stubs in client/hatbot/v1: {stale}; run: python tools/generate_stubs.py"
    )


def test_grpc_stub_imports_the_package(generated: dict[str, bytes]) -> None:
    for source in (generated["hatbot_pb2_grpc.py"], (STUBS / "hatbot_pb2_grpc.py").read_bytes()):
        text = source.decode()
        assert "from hatbot.v1 import hatbot_pb2" in text
        assert "sys.path" not in text
        assert "\nimport hatbot_pb2" not in text


def test_stubs_describe_the_proto() -> None:
    from hatbot.v1 import hatbot_pb2

    proto = (ROOT / "proto" / "hatbot" / "v1" / "hatbot.proto").read_text()
    service = hatbot_pb2.DESCRIPTOR.services_by_name["HatService"]
    for method in service.methods:
        assert f"rpc {method.name}(" in proto
    for message in hatbot_pb2.DESCRIPTOR.message_types_by_name:
        assert f"message {message} {{" in proto


def run_buf(*args: str) -> subprocess.CompletedProcess[str]:
    if not BUF.exists():
        pytest.fail(f"buf is not installed at {BUF.relative_to(ROOT)}: run `npm ci` in {ROOT}")
    return subprocess.run(
        [str(BUF), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_buf_lint() -> None:
    result = run_buf("lint")
    assert result.returncode == 0, f"buf lint:\n{result.stdout}{result.stderr}"


def test_buf_format() -> None:
    result = run_buf("format", "--diff", "--exit-code")
    assert result.returncode == 0, f"buf format would change:\n{result.stdout}{result.stderr}"
