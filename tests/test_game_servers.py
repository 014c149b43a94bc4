"""Whole games against real servers: ``hatbot play`` over gRPC, and the engine over REST."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hatbot.game import GameConfig, GrpcPlayer, RestPlayer, play_game, read_log
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
