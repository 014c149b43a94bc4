"""``tools/check_isa.py`` on shared objects that gcc compiles here for known x86-64 levels."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from components import missing
from conftest import load_script

# A float loop: gcc vectorises it, and with AVX every float instruction is VEX-encoded.
SOURCE = """
float dot(const float *a, const float *b, int n) {
    float sum = 0;
    for (int i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}
"""


@pytest.fixture(scope="module")
def check_isa() -> ModuleType:
    return load_script("tools/check_isa.py", "check_isa")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``SOURCE`` as a shared object per ``-march`` level, the way annoy's is built."""
    if platform.machine() != "x86_64":
        pytest.skip("x86-64 only")
    if shutil.which("gcc") is None:
        missing("gcc is needed to compile the test objects: apt-get install gcc")
    out = tmp_path_factory.mktemp("isa")
    (out / "dot.c").write_text(SOURCE)
    built = {}
    for level in ("x86-64-v2", "x86-64-v3", "x86-64-v4"):
        built[level] = out / f"dot-{level}.so"
        flags = ["-O3", "-ffast-math", f"-march={level}", "-shared", "-fPIC"]
        command = ["gcc", *flags, "-o", str(built[level]), str(out / "dot.c")]
        subprocess.run(command, check=True, timeout=60)
    return built


def test_each_build_is_within_its_own_level(
    check_isa: ModuleType, compiled: dict[str, Path]
) -> None:
    for level, path in compiled.items():
        report = check_isa.check(path, level)
        assert report.ok, report.summary()
        assert report.instructions > 0


def test_a_newer_level_fails_the_baseline_and_names_the_features(
    check_isa: ModuleType, compiled: dict[str, Path]
) -> None:
    report = check_isa.check(compiled["x86-64-v3"], "x86-64-v2")
    assert not report.ok
    assert "AVX" in report.beyond
    assert "AVX" in report.summary()
    assert "%ymm" in report.summary() or "%xmm" in report.summary()  # an example instruction
    v4 = check_isa.check(compiled["x86-64-v4"], "x86-64-v3")
    assert "AVX512F" in v4.beyond, v4.summary()


def test_command_line(check_isa: ModuleType, compiled: dict[str, Path], tmp_path: Path) -> None:
    v2, v3 = str(compiled["x86-64-v2"]), str(compiled["x86-64-v3"])
    assert check_isa.main(["--level", "x86-64-v2", v2]) == 0
    assert check_isa.main(["--level", "x86-64-v2", v2, v3]) == 1
    assert check_isa.main(["--level", "x86-64-v3", v3]) == 0
    text = tmp_path / "notes.txt"
    text.write_text("not a binary\n")
    assert check_isa.main([str(text)]) == 2
    with pytest.raises(ValueError, match=r"notes\.txt: not an ELF file"):
        check_isa.check(text, "x86-64-v2")
    with pytest.raises(ValueError, match="level: unknown 'x86-64-v9'"):
        check_isa.check(compiled["x86-64-v2"], "x86-64-v9")
