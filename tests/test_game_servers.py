"""Whole games against real servers: ``hatbot play`` over gRPC, and the engine over REST."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hatbot.game import GameConfig, GameLog, GrpcPlayer, RestPlayer, play_game, read_log, summarize
from hatbot.game.load import load_game
from hatbot.server.process import WAIT_SECONDS, ServerProcess

Cli = Callable[..., subprocess.CompletedProcess[str]]

ECHO_BOT = '''
class EchoBot:
    """Explains with the word's letters reversed and guesses the first hint."""

    def explain(self, word, n_words):
        return [word[::-1]]

    def guess(self, words, n_words):
        return list(words[:1])
'''


def test_hatbot_play_between_two_grpc_servers_and_a_python_player(
    hat_server: str, baseline_server: str, topics: dict[str, list[str]], tmp_path: Path
) -> None:
    (tmp_path / "echo_bot.py").write_text(ECHO_BOT)
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["river", "guitar", "computer", "bread", "ocean", "piano"]))
    log = tmp_path / "game.jsonl"
    players = [f"ours={hat_server}", f"base={baseline_server}", "echo=py:echo_bot:EchoBot"]
    command = [sys.executable, "-m", "hatbot.cli", "play", "--words", str(words)]
    command += [arg for player in players for arg in ("--player", player)]
    command += ["--rounds", "2", "--seed", "3", "--log", str(log)]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WAIT_SECONDS, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert sorted(line.split()[0] for line in table[2:]) == ["base", "echo", "ours"]

    records = read_log(log)
    calls = [r for r in records if r["event"] == "call"]
    turns = [r for r in records if r["event"] == "turn"]
    assert len(turns) == 2 * 3  # every player explains once per round
    assert {c["player"] for c in calls if c["role"] == "explain"} == {"ours", "base", "echo"}
    grpc_calls = [c for c in calls if c["player"] in ("ours", "base")]
    assert grpc_calls
    assert all(c["status"] == "ok" for c in grpc_calls)
    # The servers' hints for topic words are topic words, so the gRPC players find some words.
    assert any(turn["guessed_at"] for turn in turns if turn["explainer"] in ("ours", "base"))
    topic_words = {word for words in topics.values() for word in words}
    assert {turn["word"] for turn in turns} <= topic_words


def test_a_game_through_the_rest_protocol_matches_grpc(tiny_model: Path) -> None:
    with ServerProcess(tiny_model, "--http-port", "0", "--grace", "1") as server:
        url = server.wait_http()
        rest, grpc_player = RestPlayer(url), GrpcPlayer(server.wait_listening())
        try:
            assert rest.explain("river", 5) == grpc_player.explain("river", 5)
            result = play_game(
                {"rest": rest, "grpc": grpc_player},
                ["river", "guitar", "bread", "keyboard"],
                GameConfig(rounds=2, seed=5),
            )
        finally:
            grpc_player.close()
    assert {call.status for call in result.calls} == {"ok"}
    rest_turns = [turn for turn in result.turns if turn.explainer == "rest"]
    assert rest_turns
    assert all(turn.hints for turn in rest_turns)
    assert any(turn.guessed_at for turn in result.turns)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_game_between_real_servers_is_rebuilt_from_its_log(
    hat_server: str, baseline_server: str, tmp_path: Path
) -> None:
    dead = f"127.0.0.1:{closed_port()}"
    targets = {"ours": hat_server, "base": baseline_server, "dead": dead}
    players = {name: GrpcPlayer(target, 1.0, "soft") for name, target in targets.items()}
    path = tmp_path / "game.jsonl"
    try:
        with GameLog.open(path) as log:
            result = play_game(
                players, ["river", "guitar", "bread"], GameConfig(seed=2), log, targets=targets
            )
    finally:
        for player in players.values():
            player.close()
    game = load_game(path)
    assert game.result == result
    assert game.warnings == []
    assert any(turn.guessed_at for turn in result.turns)
    summaries = {summary.player: summary for summary in summarize(result)}
    assert summaries["dead"].unavailable
    assert not summaries["ours"].unavailable
    assert any("Connection refused" in detail for detail in summaries["dead"].failures["error"])


def test_hatbot_play_report_and_hatbot_report_show_the_same_game(
    hat_server: str, baseline_server: str, tmp_path: Path, cli: Cli
) -> None:
    words = tmp_path / "words.txt"
    words.write_text("river\nguitar\ncomputer\nbread\n")
    log, played, reported = tmp_path / "g.jsonl", tmp_path / "p.html", tmp_path / "r.html"
    dead = f"127.0.0.1:{closed_port()}"
    players = [f"ours={hat_server}", f"base={baseline_server}", f"dead={dead}"]
    play = cli("play", *(arg for p in players for arg in ("--player", p)), "--words", str(words),
               "--seed", "5", "--log", str(log), "--report", str(played))  # fmt: skip
    assert play.returncode == 0, play.stderr
    report = cli("report", str(log), "--html", str(reported))
    assert report.returncode == 0, report.stderr
    assert report.stdout.replace(str(reported), str(played)) == play.stdout
    assert "dead is unavailable: none of its" in play.stdout
    assert reported.read_text() == played.read_text()
    page = played.read_text()
    for player in players:
        name, target = player.split("=")
        assert f'{name}</span><span class="target">{target}</span>' in page
