"""``benchmarks/serving.py``: a short real run on the tiny model, its report and its requests."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from conftest import load_script
from scrape import metric

from hatbot.models.neighbours import read_words

if TYPE_CHECKING:
    from conftest import StartServer

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "serving.py"
LEVELS = (1, 4)
CHANNELS = 2


@pytest.fixture(scope="module")
def serving() -> ModuleType:
    """The benchmark script imported as a module."""
    return load_script("benchmarks/serving.py", "serving_benchmark")


def table_rows(report: str) -> list[dict[str, str]]:
    """The rows of the report's (single) results table, by column name."""
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]
    return [dict(zip(header, row, strict=True)) for row in rows]


def status_counts(cell: str) -> dict[str, int]:
    """``"OK 12, DEADLINE_EXCEEDED 3"`` as a dict."""
    pairs = (item.rsplit(" ", 1) for item in cell.split(", "))
    return {code: int(count) for code, count in pairs}


def test_short_run_counts_every_kind_and_never_repeats_an_unseen_tuple(
    serving: ModuleType, tiny_model: Path, tiny_manifest: dict[str, Any], tmp_path: Path
) -> None:
    out, dump = tmp_path / "serving.md", tmp_path / "requests.jsonl"
    command = [sys.executable, str(SCRIPT), "--serve", str(tiny_model), "--duration", "0.3"]
    command += ["--rounds", "2", "--warmup", "0.1", "--concurrency", *map(str, LEVELS)]
    command += ["--channels", str(CHANNELS), "--out", str(out), "--dump-requests", str(dump)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr

    report = out.read_text()
    assert result.stdout == report
    assert f"- model: {tiny_manifest['version']}" in report.splitlines()
    assert "- seed: 0" in report.splitlines()
    rows = table_rows(report)
    assert [(row["kind"], int(row["in flight"])) for row in rows] == [
        (kind, level)
        for level in LEVELS
        for other in serving.KINDS[1:]
        for kind in ("health", other)
    ]
    for row in rows:
        calls, *probe = row["status codes"].split("; probe: ")
        counts = status_counts(calls)
        assert int(counts["OK"]) > 0, row
        assert int(row["calls"]) == sum(counts.values()), row
        assert float(row["QPS"]) > 0, row
        assert float(row["p50 ms"]) > 0, row
        assert row["probe max ms"] != "-", row  # the floor's slices are probed too
        assert [status_counts(part)["OK"] > 0 for part in probe] == [True]
        compared = row["kind"] != "health"
        assert (row["QPS of floor"] != "-") == compared, row
        assert (row["p50 / floor"] != "-") == compared, row
    if shutil.which("ss"):
        assert f"{CHANNELS} TCP connections" in result.stderr
    elif os.environ.get("CI") == "true":
        pytest.fail("ss (Debian package iproute2) is needed to count the benchmark's connections")

    candidates = set(read_words(tiny_model / "strategy"))
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    sent: set[tuple[str, ...]] = set()
    unseen = 0
    for record in records:
        if record["rpc"] != "Guess":
            continue
        hints = tuple(record["words"])
        if record["kind"] == "guess-unseen":
            assert hints not in sent, f"{hints} sent twice"
            assert 1 <= len(hints) <= 5
            assert len(set(hints)) == len(hints)
            assert set(hints) <= candidates
            unseen += 1
        sent.add(hints)
    assert unseen > 0
    assert {record["kind"] for record in records if record["rpc"] == "Guess"} == {
        "guess-unseen",
        "guess-host",
    }


@pytest.mark.parametrize("client_retries", [False, True])
def test_client_retries_send_a_shed_call_again_before_the_caller_sees_it(
    tiny_model: Path, server_factory: StartServer, tmp_path: Path, client_retries: bool
) -> None:
    # One call in flight at a time and 8 callers: most calls are shed. Each Guess the load
    # draws is one call of a caller; the server counts every attempt of it.
    server = server_factory(
        tiny_model, "--workers", "1", "--max-in-flight", "1", "--metrics-port", "0"
    )
    address = server.wait_serving()
    dump = tmp_path / "requests.jsonl"
    command = [sys.executable, str(SCRIPT), "--addr", address, "--model", str(tiny_model)]
    command += ["--kinds", "guess-unseen", "--concurrency", "8", "--channels", "2"]
    command += ["--duration", "0.5", "--rounds", "1", "--warmup", "0", "--dump-requests", str(dump)]
    command += ["--client-retries"] if client_retries else []
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr

    calls = len(dump.read_text().splitlines())
    attempts = metric(server, "hatbot_calls_total", method="/hatbot.v1.HatService/Guess")
    assert metric(server, "hatbot_calls_shed_total") > 0
    if client_retries:
        assert attempts > calls
    else:
        assert attempts == calls


def test_the_same_seed_draws_the_same_requests(serving: ModuleType) -> None:
    words = serving.Words([f"word{i}" for i in range(50)], ["the", "of", "and"])

    def draw(seed: int) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = []
        requests = serving.Requests(words, seed, log)
        for _ in range(100):
            requests.unseen_guess()
            requests.explain("explain-other")
            requests.explain("guess-host")
        return log

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


def test_unseen_tuples_run_out_with_an_error(serving: ModuleType) -> None:
    requests = serving.Requests(serving.Words(["lake", "river", "boat"], []), 0, [])
    drawn = {tuple(requests.unseen_guess().words) for _ in range(15)}  # 3 + 6 + 6 tuples
    assert len(drawn) == 15
    with pytest.raises(serving.BenchmarkError, match="guess-unseen: no unseen hint tuple"):
        requests.unseen_guess()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--addr", "127.0.0.1:50051"], "--model: required with --addr"),
        (["--addr", "nowhere"], "--addr: must be HOST:PORT"),
        (["--serve", "{model}", "--addr", "127.0.0.1:1"], "not allowed with argument"),
        (["--serve", "{missing}"], "--serve: not a model directory"),
        (["--serve", "{model}", "--duration", "0"], "--duration: must be more than 0 seconds"),
        (["--addr", "127.0.0.1:1", "--model", "{model}", "--cold-start", "2"],
         "--cold-start: needs --serve"),
        (["--serve", "{model}", "--compare-workers", "1", "2", "--server-args=--workers 3"],
         "--server-args: --workers is set by --compare-workers"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(
    serving: ModuleType,
    tiny_model: Path,
    tmp_path: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {"model": str(tiny_model), "missing": str(tmp_path / "missing")}
    with pytest.raises(SystemExit) as exit_info:
        serving.parse_args([arg.format(**paths) for arg in argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_rejections_and_ratios_are_reported(serving: ModuleType) -> None:
    def level(ok_ms: list[float], rejected_ms: list[float]) -> Any:
        latencies = {"OK": [ms / 1000 for ms in ok_ms]}
        if rejected_ms:
            latencies["RESOURCE_EXHAUSTED"] = [ms / 1000 for ms in rejected_ms]
        return serving.LevelResult("guess-unseen", 16, 2.0, latencies)

    one_worker = level([10.0] * 98 + [40.0] * 2, [])
    two_workers = level([5.0] * 150 + [20.0] * 50, [1.0, 3.0])

    row = table_rows(serving.format_table([two_workers]))[0]
    assert row["calls"] == "202"
    assert row["QPS"] == "100"
    assert (row["p50 ms"], row["p99 ms"], row["rejected p99 ms"]) == ("5.00", "20.00", "3.00")
    assert row["status codes"] == "OK 200, RESOURCE_EXHAUSTED 2"
    assert table_rows(serving.format_table([one_worker]))[0]["rejected p99 ms"] == "-"

    ratio = table_rows(serving.format_ratios([one_worker], [two_workers]))[0]
    assert ratio["QPS ratio"] == "2.00 (100 / 50)"
    assert (ratio["p50 ratio"], ratio["p99 ratio"]) == ("0.50", "0.50")


def test_each_kind_is_measured_beside_the_floor_and_compared_with_it(
    serving: ModuleType,
) -> None:
    assert serving.pairs(["health", "explain-other", "guess-unseen"]) == [
        ["health", "explain-other"],
        ["health", "guess-unseen"],
    ]
    assert serving.pairs(["health"]) == [["health"]]
    assert serving.pairs(["explain-other", "guess-unseen"]) == [["explain-other"], ["guess-unseen"]]

    def level(kind: str, in_flight: int, ok_ms: list[float]) -> Any:
        return serving.LevelResult(kind, in_flight, 1.0, {"OK": [ms / 1000 for ms in ok_ms]})

    floor_1, floor_8 = level("health", 1, [1.0] * 100), level("health", 8, [2.0] * 400)
    rows = table_rows(
        serving.format_table(
            [
                floor_1,
                level("guess-unseen", 1, [1.5] * 50),
                floor_8,
                level("guess-unseen", 8, [5.0] * 100),
                level("explain-other", 1, [1.0] * 10),  # no floor of its level before it
            ]
        )
    )
    columns = ("QPS of floor", "p50 / floor", "p99 / floor")
    assert [tuple(row[column] for column in columns) for row in rows] == [
        ("-", "-", "-"),
        ("50%", "1.50x", "1.50x"),
        ("-", "-", "-"),
        ("25%", "2.50x", "2.50x"),
        ("-", "-", "-"),
    ]


def test_slices_merge_into_one_result(serving: ModuleType) -> None:
    first = serving.LevelResult(
        "guess-unseen", 8, 1.0, {"OK": [0.001] * 3}, [0.002], Counter(OK=1), Counter(OK=1)
    )
    second = serving.LevelResult(
        "guess-unseen",
        8,
        1.0,
        {"OK": [0.003], "RESOURCE_EXHAUSTED": [0.004]},
        [0.005, 0.006],
        Counter(OK=2),
        Counter(UNAVAILABLE=1),
    )
    merged = first.merged(second)
    assert (merged.kind, merged.level, merged.duration) == ("guess-unseen", 8, 2.0)
    assert merged.latencies == {"OK": [0.001] * 3 + [0.003], "RESOURCE_EXHAUSTED": [0.004]}
    assert merged.probe == [0.002, 0.005, 0.006]
    assert merged.probe_codes == Counter(OK=3)
    assert merged.setup_errors == Counter(OK=1, UNAVAILABLE=1)
    assert first.latencies == {"OK": [0.001] * 3}  # the slices are left as they were


def test_one_probe_hands_each_slice_its_own_checks(
    hat_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe's process imports its function by module name, as running the script does.
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    serving = importlib.import_module("serving")
    with serving.Probe(hat_server, 1.0) as probe:
        windows = []
        for _ in range(3):
            start = time.perf_counter()
            while time.perf_counter() < start + 0.1:  # the probe checks every 10 ms meanwhile
                time.sleep(0.01)
            windows.append((start, time.perf_counter()))
        first, _ = probe.window(*windows[0])
        latencies, codes = probe.window(windows[2][0], windows[2][1])
        earlier, _ = probe.window(*windows[1])  # handed out already, or forgotten
    assert first, "every 0.1 s window holds some checks"
    assert latencies
    assert codes == Counter(OK=len(latencies))
    assert earlier == []
