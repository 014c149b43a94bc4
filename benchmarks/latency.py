"""Latency of Explain and Guess over sequential calls to a real server on loopback.

    python benchmarks/latency.py --model var/models/20news [--calls 1000] [--strategy default]

Starts ``hatbot serve`` on a free port, makes ``--calls`` sequential Explain calls (words
cycled from ``--words``) and as many Guess calls (1 to 5 of those hints), and prints
p50/p99/max per call kind, as seen by the client (network, serialisation and server time).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hatbot.client import HatClient
from hatbot.server.process import ServerProcess

T = TypeVar("T")
DEV_NOUNS = Path(__file__).resolve().parents[2] / "shared" / "words" / "dev_nouns.txt"


def _timed(call: Callable[[T, int], list[str]], arg: T) -> tuple[float, list[str]]:
    started = time.perf_counter()
    answer = call(arg, 5)
    return (time.perf_counter() - started) * 1000, answer


def _row(kind: str, millis: list[float]) -> str:
    ordered = sorted(millis)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return (
        f"| {kind} | {len(ordered)} | {statistics.median(ordered):.2f} | {p99:.2f} "
        f"| {ordered[-1]:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--words", type=Path, default=DEV_NOUNS)
    args = parser.parse_args()
    words = args.words.read_text().split()

    with (
        ServerProcess(args.model, "--strategy", args.strategy) as server,
        HatClient(server.wait_listening(), timeout=5.0) as client,
    ):
        for word in words[:20]:  # warm the channel and the client
            client.explain(word, 5)
        explain_ms: list[float] = []
        hints_by_word: list[list[str]] = []
        for i in range(args.calls):
            millis, hints = _timed(client.explain, words[i % len(words)])
            explain_ms.append(millis)
            hints_by_word.append(hints or [words[i % len(words)]])
        guess_ms: list[float] = []
        for i in range(args.calls):
            hints = hints_by_word[i][: 1 + i % 5]
            millis, _ = _timed(client.guess, hints)
            guess_ms.append(millis)

    print(f"strategy {args.strategy}, model {args.model}, {args.calls} sequential calls each")
    print("| call | n | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(_row("Explain", explain_ms))
    print(_row("Guess", guess_ms))


if __name__ == "__main__":
    main()
