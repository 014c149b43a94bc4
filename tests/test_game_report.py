"""``hatbot report`` and ``hatbot play --report``: the results and the page from a log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_game_cli import BOTS, TWO, refused, run

from hatbot.game.load import load_game

Cli = Callable[..., subprocess.CompletedProcess[str]]
HOSTILE = "<script>alert('x')</script>$x$"
PLAY = ["play", *TWO, "--player", "c=py:cli_test_bots:Broken", "--words", "words.txt",
        "--rounds", "2", "--seed", "4", "--log", "game.jsonl"]  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_test_bots.py").write_text(BOTS)
    (tmp_path / "words.txt").write_text("dog\ncat\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_report_prints_what_play_printed(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(PLAY) == 0
    played = capsys.readouterr().out
    assert run(["report", "game.jsonl"]) == 0
    assert capsys.readouterr().out == played
    assert "c is unavailable: none of its" in played


def test_play_report_and_report_html_write_the_same_page(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*PLAY, "--report", "played.html"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "report played.html"
    assert run(["report", "game.jsonl", "--html", "reported.html"]) == 0
    page = (workdir / "played.html").read_text()
    assert (workdir / "reported.html").read_text() == page
    assert sorted(path.name for path in workdir.iterdir() if path.suffix == ".html") == [
        "played.html",
        "reported.html",
    ]  # written through a temporary file that is gone
    result = load_game(workdir / "game.jsonl").result
    for turn in result.turns:
        assert f'<td class="word">{turn.word}</td>' in page
    assert page.count("<svg") == 3
    assert "unavailable: never answered" in page
    assert "RuntimeError: no" in page


def test_the_page_escapes_what_the_log_says_and_loads_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["play", "--player", f"{HOSTILE}=py:cli_test_bots:Bot", "--player",
            "b=py:cli_test_bots:Bot", "--words", "words.txt", "--report", "page.html"]  # fmt: skip
    assert run(argv) == 0
    page = (workdir / "page.html").read_text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;$x$" in page
    assert "<script" not in page
    without_namespaces = re.sub(r'xmlns(:xlink)?="[^"]*"', "", page)
    assert not re.search(r"(https?:)?//[a-z]", without_namespaces)
    assert "default-src 'none'" in page  # the page itself forbids loading anything


def test_a_log_cut_off_mid_game_gives_an_incomplete_report(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(PLAY) == 0
    capsys.readouterr()
    text = (workdir / "game.jsonl").read_text()
    cut = text[: text.index('"turn": 3, "word"') + 40]  # in the middle of turn 3's first call
    (workdir / "cut.jsonl").write_text(cut)
    assert run(["report", "cut.jsonl", "--html", "cut.html"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1] == "incomplete: 2 of 6 turns played"
    line = len(cut.splitlines())
    assert (
        err
        == f"hatbot report: warning: cut.jsonl:{line}: the last line is cut off; it was skipped\n"
    )
    page = (workdir / "cut.html").read_text()
    assert "The log ends after 2 of the game's 6 turns" in page
    assert "the last line is cut off" in page


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "the following arguments are required: LOG.jsonl"),
        (["report", "missing.jsonl"], "cannot read missing.jsonl: No such file"),
        (["report", "words.txt"], "words.txt:1: not a game log record: not JSON"),
        (["report", "game.jsonl", "--html", "no/such/dir/page.html"],
         "cannot write the report: no directory no/such/dir"),
        ([*PLAY, "--report", "no/such/dir/page.html"],
         "cannot write the report: no directory no/such/dir"),
    ],
)  # fmt: skip
def test_bad_report_arguments_are_one_line_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (workdir / "game.jsonl").write_text("")
    err = refused(argv, capsys)
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err
    assert not list(workdir.glob("**/*.html"))


@pytest.mark.parametrize("command", [["report", "game.jsonl", "--html", "page.html"],
                                     [*PLAY, "--report", "page.html"]])  # fmt: skip
def test_without_matplotlib_the_page_is_refused_with_what_to_install(
    workdir: Path, command: list[str]
) -> None:
    if command[0] == "report":
        assert run(PLAY) == 0
    block = "import sys; sys.modules['matplotlib'] = None; from hatbot.cli import main; "
    done = subprocess.run(
        [sys.executable, "-c", block + "sys.exit(main(sys.argv[1:]))", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(workdir)},
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"hatbot {command[0]}: the HTML report needs matplotlib: pip install 'hatbot[report]'\n"
    )
    assert not (workdir / "page.html").exists()
    if command[0] == "play":  # refused before the game: no log written
        assert not (workdir / "game.jsonl").exists()
