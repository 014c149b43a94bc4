"""Generate the typed Python gRPC stubs for proto/ into client/ (run from anywhere).

Usage: python tools/generate_stubs.py [OUT_DIR]   (default: the repository's client/)
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def _plugin(name: str) -> str:
    """Path of a protoc plugin installed next to this Python (mypy-protobuf's)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"{name} not found next to {sys.executable}: pip install mypy-protobuf")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Write ``*_pb2.py``, ``*_pb2_grpc.py`` and their ``.pyi`` stubs under ``out_dir``."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"} and "_pb2" in p.name)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "client"
    for path in generate(out):
        print(path)
