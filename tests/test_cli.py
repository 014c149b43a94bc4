"""The ``hatbot`` command against the session server, and its failures."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hatbot import arguments, rules

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "hatbot"
    assert script.exists(), f"no console script next to {sys.executable}"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in ("train", "serve", "explain", "guess", "info", "health"):
        assert command in result.stdout


def test_explain_prints_hints(hat_server: str, cli: Cli) -> None:
    result = cli("explain", "--addr", hat_server, "-n", "4", "River")
    assert result.returncode == 0, result.stderr
    hints = result.stdout.split()
    assert 0 < len(hints) <= 4
    assert all(rules.is_legal_hint("river", hint) for hint in hints), hints


def test_guess_prints_guesses(hat_server: str, cli: Cli) -> None:
    result = cli("guess", "--addr", hat_server, "-n", "3", "guitar", "piano")
    assert result.returncode == 0, result.stderr
    guesses = result.stdout.split()
    assert 0 < len(guesses) <= 3
    assert not {"guitar", "piano"} & set(guesses)


def test_info_prints_the_model(hat_server: str, cli: Cli, tiny_manifest: dict[str, Any]) -> None:
    result = cli("info", "--addr", hat_server)
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert fields["version"] == tiny_manifest["version"]
    assert fields["vocabulary_size"] == str(tiny_manifest["vocabulary_size"])
    assert fields["corpus_sha256"] == tiny_manifest["corpus"]["sha256"]
    assert fields["strategy"] == "default"


def test_bad_request_exits_1_with_the_servers_reason(hat_server: str, cli: Cli) -> None:
    result = cli("explain", "--addr", hat_server, "ab1")
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr
    assert "word" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_model_fails_clearly(tmp_path: Path, cli: Cli) -> None:
    missing = tmp_path / "nonexistent"
    result = cli("serve", "--model", str(missing), "--port", "0")
    assert result.returncode != 0
    assert "not a model directory" in result.stderr
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_a_model_without_strategy_tables_fails_clearly(
    tiny_model: Path, tmp_path: Path, cli: Cli
) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    shutil.rmtree(old / "strategy")
    result = cli("serve", "--model", str(old), "--port", "0")
    assert result.returncode == 1
    assert "no neighbour tables" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_publishes_a_model_and_force_replaces_it(
    tmp_path: Path, tiny_corpus: Path, cli: Cli
) -> None:
    out = tmp_path / "model"
    args = ["train", "--corpus", str(tiny_corpus), "--out", str(out), "--name", "cli"]
    small = ["--vector-size", "8", "--epochs", "1", "--workers", "1", "--n-trees", "2"]
    result = cli(*args, *small)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] in result.stdout
    assert manifest["vector_size"] == 8
    assert manifest["annoy"]["n_trees"] == 2

    replaced = cli(*args, *small, "--vector-size", "6", "--force")
    assert replaced.returncode == 0, replaced.stderr
    again = json.loads((out / "manifest.json").read_text())
    assert again["vector_size"] == 6
    assert again["version"] != manifest["version"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "nothing left beside it"


# What every wrong invocation gets: exit code, and one line on stderr that names the argument.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
SMALL = ["--vector-size", "8", "--epochs", "1", "--workers", "1", "--n-trees", "2"]


def refused(result: subprocess.CompletedProcess[str], code: int, *named: str) -> str:
    """The one line ``hatbot`` printed on stderr to refuse an invocation with exit ``code``,
    checked to name each of ``named``; log lines of work begun before are not counted."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["explain", "-n", "0", "river"], ["argument -n", "must be a positive integer, got 0"]),
        (["explain", "-n", "abc", "river"], ["argument -n", "expected a positive integer"]),
        (["guess", "--timeout", "0", "river"], ["argument --timeout", "more than 0 seconds"]),
        (["guess", "--criteria", "Soft", "river"], ["argument --criteria", "invalid choice"]),
        (["train", "--vector-size", "-3"], ["argument --vector-size", "got -3"]),
        (["train", "--epochs", "many"], ["argument --epochs", "'many'"]),
        (["train", "--algorithm", "glove"], ["argument --algorithm", "'glove'"]),
        (["serve", "--port", "99999"], ["argument --port", "between 0 and 65535, got 99999"]),
        (["serve", "--port", "-5"], ["argument --port", "got -5"]),
        (["serve", "--http-port", "99999"], ["argument --http-port", "got 99999"]),
        (["serve", "--metrics-port", "x"], ["argument --metrics-port", "expected a port"]),
        (["serve", "--workers", "0"], ["argument --workers", "got 0"]),
        (["serve", "--drain-delay", "-1"], ["argument --drain-delay", "'-1'"]),
        (["serve", "--poll", "1"], ["--poll needs --model-root"]),
        (["serve", "--model", "m", "--model-root", "r"], ["not allowed with argument"]),
        (["explain"], ["the following arguments are required: word"]),
        (["info", "--nope"], ["unrecognized arguments: --nope"]),
        ([], ["the following arguments are required: command"]),
    ],
)
def test_argument_errors_are_one_line_naming_the_argument(
    cli: Cli, args: list[str], named: list[str]
) -> None:
    line = refused(cli(*args), 2, *named)
    assert line.startswith("hatbot"), line
    assert "_positive_int" not in line
    assert "positive_int value" not in line


def test_train_with_a_missing_corpus_is_refused_at_once(tmp_path: Path, cli: Cli) -> None:
    missing, out = tmp_path / "no-such-corpus.tar.gz", tmp_path / "model"
    refused(cli("train", "--corpus", str(missing), "--out", str(out)), 2, "--corpus", str(missing))
    assert not out.exists()


def test_train_over_a_model_without_force_is_refused_before_training(
    tmp_path: Path, tiny_model: Path, tiny_corpus: Path, cli: Cli
) -> None:
    out = tmp_path / "model"
    shutil.copytree(tiny_model, out)
    before = sorted(tmp_path.iterdir())
    result = cli("train", "--corpus", str(tiny_corpus), "--out", str(out), *SMALL)
    line = refused(result, 1, "--out", str(out), "--force")
    assert line.startswith("hatbot train: --out ")
    assert "stage" not in result.stderr, "nothing may be trained"
    assert sorted(tmp_path.iterdir()) == before, "no staging directory either"
    assert (out / "manifest.json").read_bytes() == (tiny_model / "manifest.json").read_bytes()


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_train_never_replaces_what_is_not_a_model(
    tmp_path: Path, tiny_corpus: Path, cli: Cli, force: list[str]
) -> None:
    directory, file = tmp_path / "photos", tmp_path / "notes.txt"
    directory.mkdir()
    (directory / "keep.jpg").write_bytes(b"precious")
    file.write_text("also precious")
    for out in (directory, file):
        result = cli("train", "--corpus", str(tiny_corpus), "--out", str(out), *SMALL, *force)
        refused(result, 1, "--out", str(out), "not a model directory")
        assert "stage" not in result.stderr, "nothing may be trained"
    assert (directory / "keep.jpg").read_bytes() == b"precious"
    assert sorted(p.name for p in directory.iterdir()) == ["keep.jpg"]
    assert file.read_text() == "also precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]


def test_the_default_model_dir_comes_from_hatbot_model_dir(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    monkeypatch.setenv("HATBOT_MODEL_DIR", str(taken))
    refused(cli("train"), 1, "--out", str(taken), "not a model directory")
    assert str(taken) in cli("--help").stdout
    assert str(taken) in cli("train", "--help").stdout


def test_a_truncated_tarball_is_one_line_naming_it(
    tmp_path: Path, tiny_corpus: Path, cli: Cli
) -> None:
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as archive:
        for copy in range(3):
            archive.add(tiny_corpus, arcname=f"posts/{copy}.txt")
    truncated, out = tmp_path / "truncated.tar.gz", tmp_path / "model"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = cli("train", "--corpus", str(truncated), "--out", str(out), *SMALL)
    line = refused(result, 1, "--corpus", str(truncated), "truncated")
    assert "EOFError" not in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.tar.gz", "whole.tar.gz"]


def test_a_garbled_manifest_is_named(tmp_path: Path, tiny_model: Path, cli: Cli) -> None:
    garbled = tmp_path / "garbled"
    shutil.copytree(tiny_model, garbled)
    (garbled / "manifest.json").write_text('{"name": "tiny", ')
    result = cli("train", "--precompute-only", "--out", str(garbled))
    refused(result, 1, str(garbled / "manifest.json"), "not a valid model manifest")


def test_help_shows_every_default_once_and_an_example(cli: Cli) -> None:
    for command in ("train", "explain", "guess", "info", "health"):
        result = cli(command, "--help")
        assert result.returncode == 0, result.stderr
        text = " ".join(result.stdout.split())  # undo the wrapping
        assert "example:" in result.stdout
        assert f"hatbot {command}" in result.stdout
        assert "(default: None)" not in text
        assert "(default: False)" not in text
        options = re.split(r" (?=-{1,2}[a-z][-a-z]* )", text.split("options:")[1])
        for option in options:
            assert option.count("(default") <= 1, option
    train = " ".join(cli("train", "--help").stdout.split())
    for default in (
        "--vector-size VECTOR_SIZE dimensions of the main view (default: 200)",
        "(default: word2vec-skipgram)",
        "Annoy search_k (default: 5000)",
        ".xml*.bz2",
        "20news-bydate.tar.gz",
        "HATBOT_MODEL_DIR",
        "XDG_DATA_HOME",
    ):
        assert default in train, default
    explain = " ".join(cli("explain", "--help").stdout.split())
    assert "HATBOT_ADDR" in explain
    assert "(default: 5)" in explain


def test_top_level_help_documents_the_environment(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HATBOT_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    text = cli("--help").stdout
    assert "HATBOT_ADDR" in text
    assert "HATBOT_MODEL_DIR" in text
    assert str(tmp_path / "hatbot" / "models" / "default") in text


def test_hatbot_addr_is_the_default_server(
    hat_server: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HATBOT_ADDR", hat_server)
    result = cli("health")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SERVING"
    assert f"(default: {hat_server})" in " ".join(cli("info", "--help").stdout.split())


def test_train_logs_numbered_stages_off_a_terminal(
    tmp_path: Path, tiny_corpus: Path, cli: Cli
) -> None:
    out = tmp_path / "model"
    result = cli("train", "--corpus", str(tiny_corpus), "--out", str(out), "--single-view", *SMALL)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr, "no bars off a terminal"
    assert "|" not in result.stderr, "no bars off a terminal"
    stages = re.findall(r"train stage (\d+)/(\d+): (.+?) \((.+)\)$", result.stderr, re.M)
    names = ["read the corpus", "view main", "neighbour tables", "precompute"]
    assert [(int(n), int(m), name) for n, m, name, _ in stages] == [
        (i, len(names), name) for i, name in enumerate(names, 1)
    ]
    assert stages[0][3] == "0s elapsed", "no ETA before any work"
    assert all(re.fullmatch(r"\d+s elapsed, ETA \d+s", times) for *_, times in stages[1:])
    assert "train: 4 stages done in" in result.stderr


def test_the_help_format_shows_zero_defaults_but_not_unset_ones() -> None:
    parser = arguments.Parser(prog="demo")
    parser.add_argument("--delay", type=float, default=0.0, help="wait")
    parser.add_argument("--name", help="a name")
    parser.add_argument("--flag", action="store_true", help="a flag")
    parser.add_argument("--told", default=3, help="said (default: three)")
    text = " ".join(parser.format_help().split())
    assert "wait (default: 0.0)" in text
    assert "a name --flag" in text, "no default shown for None"
    assert "a flag --told" in text, "nor for a flag"
    assert "said (default: three) " in text + " "
    assert text.count("(default") == 2


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--host", "192.0.2.1", "cannot bind port 192.0.2.1:0"),  # not this machine's
        ("--host", "no-such-host.invalid", "cannot resolve --host"),
    ],
)
def test_serve_refuses_an_address_it_cannot_bind_in_one_line(
    tiny_model: Path, cli: Cli, option: str, value: str, named: str
) -> None:
    result = cli("serve", "--model", str(tiny_model), "--port", "0", option, value)
    refused(result, 1, named)


@pytest.mark.parametrize("option", ["--http-port", "--metrics-port"])
def test_serve_refuses_a_held_side_port_in_one_line(
    tiny_model: Path, cli: Cli, option: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        result = cli("serve", "--model", str(tiny_model), "--port", "0", option, port)
    refused(result, 1, option, port)


def test_serve_refuses_a_missing_model_root(tmp_path: Path, cli: Cli) -> None:
    missing = tmp_path / "root"
    refused(cli("serve", "--model-root", str(missing)), 1, "--model-root", str(missing))
