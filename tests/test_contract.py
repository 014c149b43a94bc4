"""Contract round trips against a real server on the tiny model (see proto/hatbot/v1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from hatbot import rules
from hatbot.client import HatClient
from hatbot.rules import Criteria
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

if TYPE_CHECKING:
    from conftest import StartServer

LETTERS = re.compile(r"[a-z]+")
UNKNOWN = "zzqxjv"


@pytest.fixture(scope="module")
def hat(hat_server: str) -> Iterator[HatClient]:
    with HatClient(hat_server, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def baseline(baseline_server: str) -> Iterator[HatClient]:
    with HatClient(baseline_server, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def all_words(topics: dict[str, list[str]]) -> list[str]:
    return [word for words in topics.values() for word in words]


def assert_hints_legal(word: str, hints: list[str], n_words: int) -> None:
    """The ExplainResponse.words contract for ``word``."""
    assert len(hints) <= n_words, hints
    assert len(set(hints)) == len(hints), f"repeated hints for {word}: {hints}"
    stems = [rules.stem(hint) for hint in hints]
    assert len(set(stems)) == len(stems), f"hints for {word} share a stem: {hints}"
    for hint in hints:
        assert LETTERS.fullmatch(hint), f"hint {hint!r} for {word} is not lowercase letters"
        assert word not in hint, f"hint {hint!r} contains {word!r}"
        assert hint not in word, f"hint {hint!r} is contained in {word!r}"
        assert rules.edit_distance(word, hint) >= 3, f"hint {hint!r} too close to {word!r}"
        assert rules.stem(hint) != rules.stem(word), f"hint {hint!r} shares {word!r}'s stem"


def assert_guesses_legal(
    hints: list[str], guesses: list[str], n_words: int, criteria: Criteria = "soft"
) -> None:
    """The GuessResponse.words contract for (normalised) ``hints`` under ``criteria`` (the
    server's default, soft, when the request does not say)."""
    assert len(guesses) <= n_words, guesses
    assert len(set(guesses)) == len(guesses), f"repeated guesses: {guesses}"
    for guess in guesses:
        assert LETTERS.fullmatch(guess), f"guess {guess!r} is not lowercase letters"
        for hint in hints:
            assert guess not in hint, f"guess {guess!r} is (a part of) the hint {hint!r}"
            assert rules.edit_distance(guess, hint) >= 3, f"guess {guess!r} too close to {hint!r}"
            if criteria == "hard":
                assert rules.is_legal_hint(guess, hint), f"{guess!r} is impossible after {hint!r}"


def test_explain_hints_obey_the_contract(hat: HatClient, all_words: list[str]) -> None:
    answered = 0
    for word in all_words:
        hints = hat.explain(word, 8)
        assert_hints_legal(word, hints, 8)
        answered += bool(hints)
    assert answered == len(all_words), "every word of the tiny model should get hints"


def test_explain_hints_come_from_the_words_topic(
    hat: HatClient, topics: dict[str, list[str]]
) -> None:
    """A property of the tiny corpus, not of exact outputs: the strongest hint is on topic."""
    for topic, words in topics.items():
        on_topic = sum(hat.explain(word, 1)[0] in words for word in words)
        assert on_topic >= 0.8 * len(words), f"top hints mostly off topic {topic!r}"


@pytest.mark.parametrize("n_words", [1, 3, 100])
def test_explain_respects_n_words(hat: HatClient, n_words: int) -> None:
    hints = hat.explain("river", n_words)
    assert_hints_legal("river", hints, n_words)
    assert hints, "a known word gets at least one hint"


def test_explain_with_many_hints_fills_up_to_the_answerable_vocabulary(
    hat: HatClient, tiny_manifest: dict[str, Any]
) -> None:
    hints = hat.explain("river", 100)
    assert_hints_legal("river", hints, 100)
    assert 10 < len(hints) < tiny_manifest["vocabulary_size"]


def test_the_fixture_exercises_the_filters(baseline: HatClient, all_words: list[str]) -> None:
    """Unfiltered neighbours do share stems here, so the contract tests above can fail."""
    offending = [
        word
        for word in all_words
        if any(rules.stem(hint) == rules.stem(word) for hint in baseline.explain(word, 8))
    ]
    assert offending, "the tiny model no longer puts inflected forms near each other"


def test_guess_obeys_the_contract(hat: HatClient, topics: dict[str, list[str]]) -> None:
    for words in topics.values():
        for start in range(0, len(words) - 2, 3):
            hints = words[start : start + 3]
            guesses = hat.guess(hints, 10)
            assert guesses, f"no guess for known hints {hints}"
            assert_guesses_legal(hints, guesses, 10)


def test_guess_is_on_topic(hat: HatClient, topics: dict[str, list[str]]) -> None:
    for topic, words in topics.items():
        guess = hat.guess(words[-4:], 1)
        assert len(guess) == 1
        assert guess[0] in words, f"best guess {guess} for {words[-4:]} is off topic {topic!r}"


def test_guess_round_trip_from_explain(hat: HatClient, all_words: list[str]) -> None:
    for word in all_words[::5]:
        hints = hat.explain(word, 3)
        guesses = hat.guess(hints, 20)
        assert_guesses_legal(hints, guesses, 20)


def test_explain_unknown_word_is_ok_and_empty(hat: HatClient) -> None:
    assert hat.explain(UNKNOWN, 5) == []
    assert hat.explain("a" * 64, 5) == []  # the longest allowed word


def test_guess_with_only_unknown_hints_is_empty(hat: HatClient) -> None:
    assert hat.guess([UNKNOWN], 5) == []
    assert hat.guess([UNKNOWN, "qqqqzz", "x" * 64], 5) == []


def test_guess_ignores_unknown_hints(hat: HatClient) -> None:
    guesses = hat.guess([UNKNOWN, "guitar", "piano"], 5)
    assert guesses, "known hints still give guesses"
    assert_guesses_legal([UNKNOWN, "guitar", "piano"], guesses, 5)


def test_explain_is_case_insensitive(hat: HatClient) -> None:
    hints = hat.explain("river", 5)
    assert hints
    assert hat.explain("RIVER", 5) == hints
    assert hat.explain("RiVeR", 5) == hints


def test_guess_normalises_hints(hat: HatClient) -> None:
    guesses = hat.guess(["guitar", "piano"], 5)
    assert guesses
    assert hat.guess(["GUITAR", "Piano"], 5) == guesses
    assert hat.guess(["guitar!", "pi-a-no 1"], 5) == guesses


def test_answers_are_deterministic(hat: HatClient, all_words: list[str]) -> None:
    for word in all_words[::7]:
        assert hat.explain(word, 10) == hat.explain(word, 10)
    assert hat.guess(["bread", "butter"], 10) == hat.guess(["bread", "butter"], 10)


def test_model_info_matches_the_manifest(hat: HatClient, tiny_manifest: dict[str, Any]) -> None:
    info = hat.model_info()
    assert info.name == tiny_manifest["name"] == "tiny"
    assert info.version == tiny_manifest["version"]
    assert info.corpus_sha256 == tiny_manifest["corpus"]["sha256"]
    assert info.vocabulary_size == tiny_manifest["vocabulary_size"]
    assert info.vector_size == tiny_manifest["vector_size"] == 16
    assert info.n_trees == tiny_manifest["annoy"]["n_trees"] == 5
    assert info.search_k == tiny_manifest["annoy"]["search_k"] == 500
    assert info.metric == tiny_manifest["annoy"]["metric"] == "angular"
    assert info.algorithm == tiny_manifest["algorithm"] == "word2vec-skipgram"
    built_at = datetime.fromisoformat(tiny_manifest["built_at"].replace("Z", "+00:00"))
    assert info.built_at == built_at.replace(tzinfo=None)
    assert info.strategy == "default"


def test_every_response_carries_the_model_version(
    hat_server: str, tiny_manifest: dict[str, Any]
) -> None:
    version = tiny_manifest["version"]
    with grpc.insecure_channel(hat_server) as channel:
        stub = hatbot_pb2_grpc.HatServiceStub(channel)
        requests = [
            hatbot_pb2.ExplainRequest(word="river", n_words=5),
            hatbot_pb2.ExplainRequest(word=UNKNOWN, n_words=5),
        ]
        for explain in requests:
            assert stub.Explain(explain, timeout=10).model_version == version
        for words in (["river", "lake"], [UNKNOWN]):
            guess = hatbot_pb2.GuessRequest(words=words, n_words=5)
            assert stub.Guess(guess, timeout=10).model_version == version
        info = stub.GetModelInfo(hatbot_pb2.GetModelInfoRequest(), timeout=10)
        assert info.model.version == version


def test_baseline_strategy_answers(
    baseline: HatClient, hat: HatClient, tiny_manifest: dict[str, Any], all_words: list[str]
) -> None:
    info = baseline.model_info()
    assert info.strategy == "baseline"
    assert info.version == tiny_manifest["version"]
    for word in all_words[::4]:
        hints = baseline.explain(word, 5)
        assert 0 < len(hints) <= 5
        assert word not in hints
        assert all(LETTERS.fullmatch(hint) for hint in hints), hints
        assert hints == baseline.explain(word.upper(), 5), "baseline is case-insensitive"
    guesses = baseline.guess(["guitar", "piano"], 5)
    assert 0 < len(guesses) <= 5
    assert not {"guitar", "piano"} & set(guesses)
    assert guesses == baseline.guess(["guitar", "piano"], 5), "baseline is deterministic"
    assert baseline.explain(UNKNOWN, 5) == []
    assert baseline.guess([UNKNOWN], 5) == []
    differs = any(baseline.explain(w, 8) != hat.explain(w, 8) for w in all_words)
    assert differs, "--strategy baseline answers exactly like the default strategy"


def test_guess_tells_the_criteria(hat: HatClient) -> None:
    soft = hat.guess(["program"], 20, criteria="soft")
    hard = hat.guess(["program"], 20, criteria="hard")
    assert "programming" in soft
    assert soft == hat.guess(["program"], 20)  # unspecified: the server's --criteria, soft
    assert not [guess for guess in hard if not rules.is_legal_hint(guess, "program")]
    assert_guesses_legal(["program"], hard, 20, "hard")


def test_a_server_can_default_to_the_hard_criteria(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(tiny_model, "--criteria", "hard", "--workers", "1")
    with HatClient(server.wait_serving()) as hard_server:
        assert hard_server.guess(["program"], 20) == hard_server.guess(
            ["program"], 20, criteria="hard"
        )
        assert "programming" in hard_server.guess(["program"], 20, criteria="soft")
