"""Latency of Explain and Guess over sequential calls to a real server on loopback.

    python benchmarks/latency.py --model var/models/20news [--calls 1000] [--strategy default] \\
        [--live]

Starts ``hatbot serve`` on a free port and plays the host's call pattern, sequentially: for
each word (``--words``, or 1,000 drawn with a fixed seed from the model's candidate words, so
that no answer comes from the server's caches) one Explain for 5 hints, then Guess with the
first 1, 2, ... 5 of them, until ``--calls`` calls of each kind are made. Prints p50/p99/max
per call kind as seen by the client (network, serialisation and server time). ``--live``
serves a hard-linked copy of the model without its lookup tables, so that every answer is
computed (the path of a model whose tables are missing or stale).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from hatbot.client import HatClient
from hatbot.models import neighbours
from hatbot.server import lookup
from hatbot.server.process import ServerProcess


def _row(kind: str, millis: list[float]) -> str:
    ordered = sorted(millis)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    return f"| {kind} | {len(ordered)} | {median:.2f} | {p99:.2f} | {ordered[-1]:.2f} |"


@contextmanager
def without_lookup(model: Path) -> Iterator[Path]:
    """A hard-linked copy of ``model`` (beside it) without its lookup tables."""
    with tempfile.TemporaryDirectory(dir=model.parent, prefix=".live-") as parent:
        copy = Path(parent) / model.name
        ignore = shutil.ignore_patterns(Path(lookup.DIRECTORY).name)
        shutil.copytree(model, copy, copy_function=os.link, ignore=ignore)
        yield copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--words", type=Path, help="word file (default: candidate words)")
    parser.add_argument("--live", action="store_true", help="serve without the lookup tables")
    args = parser.parse_args()
    if args.words:
        words = args.words.read_text().split()
    else:
        candidates = neighbours.read_words(args.model / neighbours.DIRECTORY)
        words = random.Random(0).sample(candidates, min(len(candidates), args.calls))

    explain_ms: list[float] = []
    guess_ms: list[float] = []
    with (
        without_lookup(args.model) if args.live else nullcontext(args.model) as model,
        ServerProcess(model, "--strategy", args.strategy) as server,
        HatClient(server.wait_listening(), timeout=5.0) as client,
    ):
        client.health()  # connect before timing
        turn = 0
        while len(explain_ms) < args.calls or len(guess_ms) < args.calls:
            word = words[turn % len(words)]
            turn += 1
            started = time.perf_counter()
            hints = client.explain(word, 5) or [word]
            if len(explain_ms) < args.calls:
                explain_ms.append((time.perf_counter() - started) * 1000)
            for shown in range(1, len(hints) + 1):
                if len(guess_ms) == args.calls:
                    break
                started = time.perf_counter()
                client.guess(hints[:shown], 5)
                guess_ms.append((time.perf_counter() - started) * 1000)

    mode = ", answers computed live" if args.live else ""
    print(f"strategy {args.strategy}{mode}, model {args.model}, {args.calls} sequential calls each")
    print("| call | n | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(_row("Explain", explain_ms))
    print(_row("Guess", guess_ms))


if __name__ == "__main__":
    main()
