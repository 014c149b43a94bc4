"""The default strategy in process, on the tiny model: its promises beyond the contract."""

from __future__ import annotations

import gc
import random
import weakref
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_EXPLAINER

from hatbot import rules
from hatbot.models.train import TrainSettings, train
from hatbot.server.guesser import Guesser, possible
from hatbot.server.model import WordModel
from hatbot.server.strategy import BaselineStrategy, GameStrategy
from hatbot.server.tables import singular


@pytest.fixture(scope="module")
def strategy(tiny_model: Path) -> GameStrategy:
    return GameStrategy(WordModel(tiny_model), TINY_EXPLAINER)


def topic_of(word: str, topics: dict[str, list[str]]) -> str:
    return next(name for name, words in topics.items() if word in words)


@pytest.mark.parametrize("word", ["river", "guitar", "keyboard", "bread"])
def test_hints_stay_on_the_word_topic(
    strategy: GameStrategy, topics: dict[str, list[str]], word: str
) -> None:
    hints = strategy.explain(word, 5)
    assert len(hints) == 5
    assert set(hints) <= set(topics[topic_of(word, topics)]), hints
    assert all(rules.is_legal_hint(word, hint) for hint in hints)
    assert len({rules.stem(hint) for hint in hints}) == 5


@pytest.mark.parametrize("word", ["river", "guitar", "keyboard", "bread"])
def test_the_guesser_finds_the_word_from_the_explainer_hints(
    strategy: GameStrategy, topics: dict[str, list[str]], word: str
) -> None:
    hints = strategy.explain(word, 5)
    guesses = [strategy.guess(hints[:n], 5) for n in range(1, 6)]
    assert set(guesses[0]) <= set(topics[topic_of(word, topics)]), guesses
    assert any(rules.is_guessed(word, guess, "soft") for guess in guesses[:2]), guesses


def test_a_guesser_never_repeats_its_answers_to_shorter_prefixes(strategy: GameStrategy) -> None:
    hints = ["lake", "boat", "shore", "fish"]
    earlier: set[str] = set()
    for n in range(1, len(hints) + 1):
        guesses = strategy.guess(hints[:n], 5)
        assert len(guesses) == 5
        assert not earlier & set(guesses)
        earlier |= set(guesses)


def fully_ranked(
    guesser: Guesser, hints: list[str], n_words: int, criteria: rules.Criteria
) -> list[str]:
    """What Guesser.guess promises, from a full sort of every candidate after every prefix:
    the first ``n_words`` possible groups not guessed before among the first 8n+40 groups."""
    candidates, params = guesser.candidates, guesser.params
    representative = {"hard": candidates.representative, "soft": candidates.soft_representative}
    limit = min(len(candidates.representative), 8 * n_words + 40)
    prior = (params.frequency_prior * candidates.log_counts).astype(np.float32)
    total = None
    banned: set[int] = set()
    guesses: list[int] = []
    for end, hint in enumerate(hints, 1):
        scored = guesser.scores(hint)
        if scored is not None:
            hint_scores, scale = scored
            weighted = hint_scores * np.float32(scale / (1.0 + params.hint_decay * (end - 1)))
            total = weighted if total is None else total + weighted
        guesses = []
        if total is not None:
            scores = total + prior
            by_best_member = candidates.group[np.lexsort((candidates.group, -scores))]
            groups = list(dict.fromkeys(by_best_member.tolist()))
            for group in groups[:limit]:
                row = int(representative[criteria][group])
                word = candidates.words[row]
                if group not in banned and possible(tuple(hints[:end]), criteria)(word):
                    guesses.append(row)
                    if len(guesses) == n_words:
                        break
        banned.update(int(candidates.group[row]) for row in guesses)
    return [candidates.words[row] for row in guesses]


@pytest.mark.parametrize("n_words", [1, 5, 20, 60])
@pytest.mark.parametrize("criteria", ["soft", "hard"])
def test_partial_sorts_answer_as_a_full_ranking_does(
    strategy: GameStrategy, n_words: int, criteria: rules.Criteria
) -> None:
    # The tiny model often needs more than the first partial sort for 5 words.
    words = strategy.guesser.candidates.words
    draw = random.Random(f"{n_words}{criteria}")
    for _ in range(40):
        hints = draw.sample(words, draw.randint(1, 5))
        fresh = Guesser(strategy.guesser.candidates, strategy.guesser.scores)
        expected = fully_ranked(fresh, hints, n_words, criteria)
        assert fresh.guess(hints, n_words, criteria) == expected, hints


def test_guesses_are_one_form_per_singular_and_plural(strategy: GameStrategy) -> None:
    guesses = strategy.guess(["boat"], 20)
    assert len({singular(guess) for guess in guesses}) == len(guesses)
    assert {"river", "lake", "wave"} <= set(guesses)
    assert not {"rivers", "lakes", "waves"} & set(guesses)  # the singular stands for both


@pytest.mark.parametrize(
    ("word", "folded"),
    [("disks", "disk"), ("parties", "party"), ("boxes", "box"), ("class", "class"),
     ("virus", "virus"), ("analysis", "analysis"), ("gas", "gas")],
)  # fmt: skip
def test_singular_folds_plurals_only(word: str, folded: str) -> None:
    assert singular(word) == folded


def test_answers_are_deterministic_across_loads(tiny_model: Path, strategy: GameStrategy) -> None:
    again = GameStrategy(WordModel(tiny_model), TINY_EXPLAINER)
    assert again.explain("piano", 7) == strategy.explain("piano", 7)
    assert again.guess(["oven", "flour"], 7) == strategy.guess(["oven", "flour"], 7)


def test_words_outside_the_candidate_vocabulary(strategy: GameStrategy) -> None:
    # "the" has a vector (the tiny model reads every token) but is no candidate: still hints.
    assert all(rules.is_legal_hint("the", hint) for hint in strategy.explain("the", 5))
    assert strategy.explain("zzzz", 5) == []
    assert strategy.guess(["zzzz"], 5) == []
    assert set(strategy.guess(["zzzz", "lake"], 5)) & set(strategy.guess(["lake"], 5))


def test_a_model_without_candidates_answers_empty(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two three four five six\n" * 3)
    settings = TrainSettings(stream="all", vector_size=4, min_count=1, epochs=1, workers=1)
    train([corpus], tmp_path / "model", settings=settings)
    model = WordModel(tmp_path / "model")
    strategy = GameStrategy(model)
    assert strategy.explain("three", 5) == []
    assert strategy.guess(["three"], 5) == []
    assert BaselineStrategy(model).explain("three", 2)  # the baseline still answers


def test_only_soft_criteria_allow_guesses_sharing_a_hint_stem(strategy: GameStrategy) -> None:
    # "programming" contains the hint "program" and shares its stem: a soft host keeps that hint.
    soft = strategy.guess(["program"], 20, "soft")
    assert "programming" in soft
    hard = strategy.guess(["program"], 20, "hard")
    assert all(rules.is_legal_hint(guess, "program") for guess in hard)
    for guesses in (soft, hard):  # never what neither criteria allow
        assert all("program" not in guess or len(guess) - len("program") > 2 for guess in guesses)
        assert all(guess not in "program" for guess in guesses)


def test_soft_guesses_take_the_form_that_also_finds_the_others(strategy: GameStrategy) -> None:
    soft = strategy.guess(["boat"], 20, "soft")
    hard = strategy.guess(["boat"], 20, "hard")
    assert {"rivers", "lakes", "waves"} <= set(soft)  # "rivers" finds "river" too when soft
    assert not {"river", "lake", "wave"} & set(soft)
    assert {"river", "lake", "wave"} <= set(hard)  # only the exact word counts when hard


def test_a_dropped_strategy_is_freed_at_once(tiny_model: Path) -> None:
    """No reference cycle: a model replaced at a reload goes, memory maps and all, when its
    last call ends rather than at some later full collection. (The live machinery, loaded
    only without complete stored answers, still holds one: LiveHintScores' cache.)"""
    gc.disable()
    try:
        strategy = GameStrategy(WordModel(tiny_model))  # the parameters its lookup was made for
        assert strategy.guess(strategy.explain("river", 3), 3)
        assert not strategy.live_loaded
        dropped: list[weakref.ref[object]] = [weakref.ref(strategy), weakref.ref(strategy.model)]
        del strategy
        assert [ref() for ref in dropped] == [None, None]
    finally:
        gc.enable()
