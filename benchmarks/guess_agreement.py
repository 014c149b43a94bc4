"""How often two servers give the same guesses: the fast lookup path against a reference.

    python benchmarks/guess_agreement.py --addr HOST:PORT --model DIR --out answers.jsonl
    python benchmarks/guess_agreement.py --addr HOST:PORT --model DIR --compare reference.jsonl

Sends ``--requests`` seeded soft Guess calls (5 guesses each) of hint tuples never sent before,
1 to 5 candidate words drawn as ``benchmarks/serving.py``'s ``guess-unseen`` kind draws them,
and writes every request with its answer (``--out``, JSON lines). With ``--compare`` it
prints the share of requests whose top 5 equals the reference's, in order and as a set.
Run it once against a server of the reference code (for example a worktree of an older
commit) and once against the code under test, on the same model and seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from serving import Requests, read_word_lists

from hatbot import arguments
from hatbot.client import HatClient
from hatbot.models.store import write_text_atomic


def answers(address: str, model: Path, count: int, seed: int) -> list[dict[str, list[str]]]:
    """``count`` seeded unseen soft guesses of the server at ``address``, with their hints."""
    requests = Requests(read_word_lists(model), seed, log=[])
    found = []
    with HatClient(address, timeout=10.0) as client:
        for _ in range(count):
            hints = list(requests.unseen_guess().words)
            found.append({"hints": hints, "guesses": client.guess(hints, 5, criteria="soft")})
    return found


def agreement(ours: list[dict[str, list[str]]], reference: list[dict[str, list[str]]]) -> str:
    """A line with the share of identical top-5 lists (in order, and as sets)."""
    pairs = list(zip(ours, reference, strict=True))
    if any(a["hints"] != b["hints"] for a, b in pairs):
        raise SystemExit("the two runs sent different requests: use the same --model and --seed")
    same = sum(a["guesses"] == b["guesses"] for a, b in pairs)
    same_set = sum(set(a["guesses"]) == set(b["guesses"]) for a, b in pairs)
    n = len(pairs)
    return (
        f"{n} requests: top-5 identical {same / n:.2%} ({same}), "
        f"same five in any order {same_set / n:.2%} ({same_set})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True, metavar="HOST:PORT")
    parser.add_argument("--model", type=Path, required=True, help="the served model directory")
    parser.add_argument("--requests", type=arguments.positive_int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write requests and answers here (JSON lines)")
    parser.add_argument("--compare", type=Path, help="a reference file written with --out")
    args = parser.parse_args(argv)
    found = answers(args.addr, args.model, args.requests, args.seed)
    if args.out:
        write_text_atomic(args.out, "".join(json.dumps(line) + "\n" for line in found))
    if args.compare:
        lines = args.compare.read_text(encoding="utf-8").splitlines()
        print(agreement(found, [json.loads(line) for line in lines][: len(found)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
