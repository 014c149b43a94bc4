"""``hatbot play``: its arguments, its errors and a whole game between Python players."""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from hatbot.game import read_log
from hatbot.game.cli import register, register_report
from hatbot.server.process import WAIT_SECONDS

BOTS = """
class Bot:
    def explain(self, word, n_words):
        return ["animal", "bark", "puppy", "leash", "kennel"]

    def guess(self, words, n_words):
        return ["dog", "cat"] if len(words) > 1 else ["cat"]

class Broken:
    def explain(self, word, n_words):
        raise RuntimeError("no")

    def guess(self, words, n_words):
        return "dog"
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hatbot")
    commands = parser.add_subparsers(required=True)
    register(commands)
    register_report(commands)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What ``hatbot ARGV`` printed on stderr as argparse refused it (exit code 2)."""
    with pytest.raises(SystemExit) as exit_info:
        run(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_test_bots.py").write_text(BOTS)
    (tmp_path / "words.txt").write_text("dog\n\n  Dog \ncat\n")
    (tmp_path / "empty.txt").write_text("\n  \n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


TWO = ["--player", "a=py:cli_test_bots:Bot", "--player", "b=py:cli_test_bots:Bot"]


def test_play_prints_the_summary_and_writes_the_log(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["play", *TWO, "--player", "c=py:cli_test_bots:Broken", "--words", "words.txt",
            "--rounds", "2", "--seed", "4", "--log", "game.jsonl", "--n-explain", "3"]  # fmt: skip
    assert run(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "seed 4, soft criteria, log game.jsonl"
    assert out[1].split()[:2] == ["player", "total"]
    assert sorted(line.split()[0] for line in out[2:5]) == ["a", "b", "c"]
    assert out[4].split()[6] == "unavailable"  # c never answers well: last, and marked so
    assert out[5].startswith("c is unavailable: none of its 14 calls answered: ")
    assert "error (RuntimeError: no)" in out[5]
    records = read_log(workdir / "game.jsonl")
    assert records[0]["seed"] == 4
    assert records[0]["n_explain"] == 3
    assert records[0]["players"] == ["a", "b", "c"]
    turns = [r for r in records if r["event"] == "turn"]
    assert [t["explainer"] for t in turns] == ["a", "b", "c"] * 2
    assert {t["word"] for t in turns} == {"dog", "cat"}
    statuses = {(r["player"], r["status"]) for r in records if r["event"] == "call"}
    assert ("c", "error") in statuses
    assert ("c", "malformed") in statuses


def test_the_default_log_is_named_after_the_seed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["play", *TWO, "--words", "words.txt", "--seed", "17", "--criteria", "hard"]) == 0
    assert "hard criteria, log hatbot-game-17.jsonl" in capsys.readouterr().out
    assert read_log(workdir / "hatbot-game-17.jsonl")[0]["criteria"] == "hard"


def test_without_a_seed_one_is_drawn_and_printed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["play", *TWO, "--words", "words.txt"]) == 0
    seed = int(capsys.readouterr().out.split()[1].rstrip(","))
    assert read_log(workdir / f"hatbot-game-{seed}.jsonl")[0]["seed"] == seed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "--words", "words.txt"], "--player"),
        (["play", *TWO], "--words"),
        (["play", "--player", "a", *TWO, "--words", "words.txt"], "NAME=TARGET"),
        (["play", "--player", "=x", *TWO, "--words", "words.txt"], "NAME=TARGET"),
        (["play", "--player", "a=", *TWO, "--words", "words.txt"], "NAME=TARGET"),
        ([*TWO, "--words", "words.txt"], "invalid choice"),
        (["play", *TWO, "--words", "words.txt", "--criteria", "medium"], "invalid choice"),
        (["play", *TWO, "--words", "words.txt", "--n-explain", "0"], "must be a positive integer"),
        (["play", *TWO, "--words", "words.txt", "--n-guess", "-3"], "must be a positive integer"),
        (["play", *TWO, "--words", "words.txt", "--rounds", "two"], "expected a positive integer"),
        (["play", *TWO, "--words", "words.txt", "--seed", "x"], "invalid int"),
        (["play", *TWO, "--words", "words.txt", "--timeout", "0"], "more than 0"),
        (["play", *TWO, "--words", "words.txt", "--timeout", "nan"], "seconds"),
        (["play", *TWO, "--words", "words.txt", "--timeout", "soon"], "number of seconds"),
    ],
)
def test_bad_arguments_are_refused_by_argparse(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in refused(argv, capsys)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "--player", "a=py:cli_test_bots:Bot", "--words", "words.txt"], "two --player"),
        (["play", *TWO, "--player", "a=x:1", "--words", "words.txt"], "two players are named"),
        (["play", *TWO, "--words", "missing.txt"], "cannot read the word list"),
        (["play", *TWO, "--words", "empty.txt"], "no words"),
        (["play", *TWO, "--player", "c=py:cli_test_bots:Nope", "--words", "words.txt"],
         "player c: cannot load"),
        (["play", *TWO, "--player", "c=py:no_such_bots:Bot", "--words", "words.txt"],
         "player c: cannot load"),
        (["play", *TWO, "--words", "words.txt", "--log", "no/such/dir/log.jsonl"],
         "cannot write the log"),
    ],
)  # fmt: skip
def test_bad_values_are_argparse_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    err = refused(argv, capsys)
    assert err.startswith("usage: hatbot play")
    assert message in err


def play_process(workdir: Path, stderr: int) -> subprocess.Popen[bytes]:
    """``hatbot play`` of two bots over 2 rounds in a child process writing stderr to ``stderr``."""
    command = [sys.executable, "-m", "hatbot.cli", "play", *TWO, "--words", "words.txt"]
    command += ["--rounds", "2", "--seed", "1", "--log", "game.jsonl"]
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=stderr)


def test_play_logs_the_turns_played_when_stderr_is_not_a_terminal(workdir: Path) -> None:
    with play_process(workdir, subprocess.PIPE) as child:
        out, err = child.communicate(timeout=WAIT_SECONDS)
    assert child.returncode == 0, err
    progress = [line.split(" hatbot.game: ")[1] for line in err.decode().splitlines()]
    assert [line.split(":")[0] for line in progress] == [f"turn {n}/4" for n in range(1, 5)]
    # seed 1 draws cat first; hatbot.progress ends each line with the elapsed time and ETA
    assert re.fullmatch(
        r"turn 1/4: a explained 'cat', 1/1 found \(\d+s elapsed, ETA \d+s\)", progress[0]
    ), progress[0]
    assert out.decode().startswith("seed 1, soft criteria")


def test_play_shows_a_progress_bar_on_a_terminal(workdir: Path) -> None:
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with play_process(workdir, terminal) as child:
        os.close(terminal)
        screen = b""
        while chunk := _read(main):
            screen += chunk
        out = child.communicate(timeout=WAIT_SECONDS)[0]
    os.close(main)
    assert child.returncode == 0
    text = screen.decode()
    assert "\rturn 4/4 |" in text
    assert "█" in text
    assert "b explained 'dog', 1/1 found" in text
    assert "INFO" not in text  # the bar replaces the log lines
    assert out.decode().startswith("seed 1, soft criteria")


def _read(fd: int) -> bytes:
    """The next output of a pseudo-terminal; b"" once its other side is closed."""
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the child closed the terminal
        return b""
