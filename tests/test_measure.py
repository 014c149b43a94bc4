"""deploy/measure.py, the figures behind the Deployment's resources, on the tiny model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_measure_reports_every_phase_and_a_reload_under_load(tiny_model: Path) -> None:
    command = [sys.executable, str(ROOT / "deploy" / "measure.py"), "--model", str(tiny_model)]
    command += ["--workers", "1", "--threads", "2", "--seconds", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "could not remove" not in result.stderr, result.stderr  # its memory cgroup, as root
    out = result.stdout
    for phase in ("## start to SERVING", "## 2 callers for 1 s", "## copy ROOT/2 + SIGHUP"):
        assert phase in out, out
    assert re.search(r"server CPU: \d+\.\d\d cores", out), out
    assert re.search(r"sum of PSS at its peak: [1-9]\d* MiB", out), out
    codes = re.findall(r"codes (\{.*\})", out)
    assert len(codes) == 2, out
    assert all(re.fullmatch(r"\{'OK': \d+\}", found) for found in codes), codes
    # Both versions answered during the reload: the copy was relabelled, checked and loaded.
    versions = re.findall(r"answered by version: \{(.*)\}", out)[-1].split(", ")
    assert len(versions) == 2, versions
    assert any("-r2'" in version for version in versions), versions
