"""How well our strategies play the Hat against opponents trained differently on the same corpus.

    python benchmarks/quality.py --model var/models/20news \\
        [--corpus ../shared/corpora/20news-bydate.tar.gz] [--words FILE ...] [--out FILE] \\
        [--opponents NAME ...]

Trains (once, cached under ``--cache``) two opponent models on the corpus with other algorithms
and settings than ours — Word2Vec CBOW and FastText skip-gram — and serves them with the
baseline strategy. Each of our strategies (default and baseline, both on ``--model``) then plays
one-on-one turns through the game engine over gRPC, in both criteria:

- *explain*: our explainer, the opponent the only guesser;
- *guess*: the opponent explains, our guesser is the only guesser.

Reported per word list: mean guesser points per word as a fraction of ``n_explain``, the share
of words found at hint 1 and by the last hint. Every guess request tells the server the
criteria (GuessRequest.criteria), as a host that knows them would. Same-model play (our
explainer to our own guesser) is listed separately: it measures agreement with ourselves, not
skill. ``--opponents`` picks others for robustness checks (FastText CBOW and gensim-default
5-epoch skip-grams, see ``MORE_OPPONENTS``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from hatbot.game import GameConfig, GrpcPlayer, Player, play_turn
from hatbot.models.store import MANIFEST, write_text_atomic
from hatbot.models.train import TrainSettings, train
from hatbot.rules import Criteria
from hatbot.server.process import ServerProcess

SHARED = Path(__file__).resolve().parents[2] / "shared"
# gensim's defaults for Word2Vec and FastText, over every token.
GENSIM_DEFAULTS = TrainSettings(stream="all", vector_size=100, window=5, negative=5, sample=1e-3)
# Those defaults but for the epochs: CBOW at 5 epochs is too undertrained on 3 M tokens to be a
# fair opponent (plain nearest-neighbour play between it and anything scores ~0.05).
OPPONENTS = {
    "w2v-cbow": replace(GENSIM_DEFAULTS, algorithm="word2vec-cbow", epochs=20, seed=11),
    "ft-skipgram": replace(GENSIM_DEFAULTS, algorithm="fasttext-skipgram", epochs=15, seed=13),
}
# More opponents for robustness checks (--opponents), none of them one of our views: gensim's
# defaults (5 epochs, undertrained on 3 M tokens) in both families, and FastText CBOW.
MORE_OPPONENTS = {
    "ft-cbow": replace(GENSIM_DEFAULTS, algorithm="fasttext-cbow", epochs=10, seed=9),
    "w2v-skipgram-5ep": replace(GENSIM_DEFAULTS, algorithm="word2vec-skipgram", epochs=5, seed=21),
    "ft-skipgram-5ep": replace(GENSIM_DEFAULTS, algorithm="fasttext-skipgram", epochs=5, seed=23),
}
STRATEGIES = ("default", "baseline")
CRITERIA: tuple[Criteria, ...] = ("soft", "hard")


@dataclass(frozen=True)
class Score:
    """Guesser results over a word list."""

    points: float  # mean guesser points per word / n_explain
    first_hint: float  # share of words found at hint 1
    by_last_hint: float  # share of words found at all

    def cells(self) -> str:
        return f"{self.points:.3f} | {self.first_hint:.2f} | {self.by_last_hint:.2f}"


def opponent_model(name: str, corpus: list[Path], cache: Path) -> Path:
    """The cached opponent model ``name``, trained first when missing."""
    out = cache / name
    if not (out / MANIFEST).is_file():
        settings = {**OPPONENTS, **MORE_OPPONENTS}[name]
        train(corpus, out, name=name, settings=settings, replace=True)
    return out


def score(explainer: Player, guesser: Player, words: Sequence[str], config: GameConfig) -> Score:
    """Play one turn per word, ``explainer`` to the single ``guesser``."""
    players = {"explainer": explainer, "guesser": guesser}
    points = first = found = 0
    for word in words:
        turn, _ = play_turn(players, "explainer", word, config)
        points += turn.points.get("guesser", 0)
        at = turn.guessed_at.get("guesser")
        first += at == 1
        found += at is not None
    n = len(words)
    return Score(points / (n * config.n_explain), first / n, found / n)


def _connect(stack: ExitStack, address: str, criteria: Criteria) -> Player:
    """A player at ``address`` told the criteria, as a host that knows them would tell it
    (baseline servers ignore them); closed with ``stack``."""
    player = GrpcPlayer(address, timeout=2.0, criteria=criteria)
    stack.callback(player.close)
    return player


def rows(ours: dict[str, str], opponents: dict[str, str], words: Sequence[str]) -> Iterator[str]:
    """Markdown table rows for one word list; players are given as server addresses."""
    for criteria in CRITERIA:
        config = GameConfig(criteria=criteria, timeout=2.0)
        with ExitStack() as stack:
            our = {name: _connect(stack, address, criteria) for name, address in ours.items()}
            for opponent_name, address in opponents.items():
                opponent = _connect(stack, address, criteria)
                for strategy in STRATEGIES:
                    explain = score(our[strategy], opponent, words, config)
                    guess = score(opponent, our[strategy], words, config)
                    yield (
                        f"| {criteria} | {opponent_name} | {strategy} | {explain.cells()} "
                        f"| {guess.cells()} |"
                    )
            for strategy in STRATEGIES:
                same = score(
                    our[strategy], _connect(stack, ours[strategy], criteria), words, config
                )
                yield f"| {criteria} | (same model) | {strategy} | {same.cells()} | | | |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="our model directory")
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpora" / "20news-bydate.tar.gz")
    parser.add_argument(
        "--words", type=Path, nargs="+", default=[SHARED / "words" / "dev_nouns.txt"]
    )
    parser.add_argument(
        "--opponents",
        nargs="+",
        choices=[*OPPONENTS, *MORE_OPPONENTS],
        default=list(OPPONENTS),
        help="opponent models (default: the two of the targets)",
    )
    parser.add_argument("--cache", type=Path, default=Path("var/benchmarks/opponents"))
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)

    lines: list[str] = []
    with ExitStack() as stack:
        ours: dict[str, str] = {}
        for strategy in STRATEGIES:
            server = stack.enter_context(ServerProcess(args.model, "--strategy", strategy))
            ours[strategy] = server.wait_listening()
        opponents: dict[str, str] = {}
        for name in args.opponents:
            model = opponent_model(name, [args.corpus], args.cache)
            server = stack.enter_context(ServerProcess(model, "--strategy", "baseline"))
            opponents[name] = server.wait_listening()
        for word_file in args.words:
            words = word_file.read_text().split()
            block = [
                f"### {word_file.name} ({len(words)} words), model {args.model.name}",
                "",
                "Points are mean guesser points per word / n_explain; hint 1 and by last are "
                "shares of words found.",
                "",
                "| criteria | opponent | our strategy | explain: points | hint 1 | by last "
                "| guess: points | hint 1 | by last |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|",
                *rows(ours, opponents, words),
                "",
            ]
            print("\n".join(block), flush=True)
            lines += block
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
