"""``benchmarks/stack_floor.py``: a short real run of h2load against each of its servers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from components import missing
from test_serving_benchmark import table_rows

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "stack_floor.py"
LEVELS = (1, 4)
SERVERS = [
    "grpcio alone",
    "hatbot serve --workers 1",
    "hatbot serve --workers 1 --metrics-port 0",
]


def test_a_short_run_measures_every_server_at_every_level(tiny_model: Path, tmp_path: Path) -> None:
    if shutil.which("h2load") is None:
        missing("h2load is needed to measure the stack's floor: apt-get install nghttp2-client")
    out = tmp_path / "floor.md"
    command = [sys.executable, str(SCRIPT), "--model", str(tiny_model), "--duration", "0.4"]
    command += ["--rounds", "2", "--warmup", "0.1", "--concurrency", *map(str, LEVELS)]
    command += ["--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr

    report = out.read_text()
    assert result.stdout == report
    rows = table_rows(report)
    assert [(row["server"], int(row["in flight"])) for row in rows] == [
        (server, level) for level in LEVELS for server in SERVERS
    ]
    for row in rows:
        assert int(row["calls"]) > 0, row
        assert float(row["QPS"]) > 0, row
        p50, p99, p999, top = (float(row[k]) for k in ("p50 ms", "p99 ms", "p99.9 ms", "max ms"))
        assert 0 < p50 <= p99 <= p999 <= top, row


def test_a_missing_model_is_named(tmp_path: Path) -> None:
    command = [sys.executable, str(SCRIPT), "--model", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"--model: not a model directory: {tmp_path}" in result.stderr
