"""The host's rules: how hints are cleaned and guesses judged, in soft and hard mode."""

from __future__ import annotations

import pytest

from hatbot.rules import (
    DROP_REASONS,
    Criteria,
    DroppedHint,
    DropReason,
    clean_hints,
    edit_distance,
    english_dictionary,
    is_english_word,
    is_guessed,
    judge_hints,
    normalize,
    stem,
)

BOTH: list[Criteria] = ["soft", "hard"]


def anything(word: str) -> bool:
    """A dictionary that knows every word, to test the other hard-mode rules alone."""
    return True


@pytest.mark.parametrize("criteria", BOTH)
def test_hints_are_lowercased(criteria: Criteria) -> None:
    assert clean_hints("dog", ["BARK", "Puppy"], criteria, 5, anything) == ["bark", "puppy"]


@pytest.mark.parametrize("criteria", BOTH)
def test_every_non_letter_is_removed(criteria: Criteria) -> None:
    hints = ["b-a r k!", "pup_py2", "l'eash", "\u00fcber"]
    assert clean_hints("dog", hints, criteria, 5, anything) == ["bark", "puppy", "leash", "ber"]


@pytest.mark.parametrize("criteria", BOTH)
@pytest.mark.parametrize("hint", ["dog", "hotdog", "dogsled", "Under-Dog"])
def test_hints_containing_the_word_are_dropped(criteria: Criteria, hint: str) -> None:
    assert clean_hints("dog", [hint, "bark"], criteria, 5, anything) == ["bark"]


@pytest.mark.parametrize("criteria", BOTH)
@pytest.mark.parametrize("hint", ["mouse", "hose", "horse", "hours", "hoses"])
def test_hints_within_two_edits_are_dropped(criteria: Criteria, hint: str) -> None:
    assert 1 <= edit_distance("house", hint) <= 2
    assert clean_hints("house", [hint, "roof"], criteria, 5, anything) == ["roof"]


@pytest.mark.parametrize("criteria", BOTH)
def test_a_hint_three_edits_away_is_kept(criteria: Criteria) -> None:
    assert edit_distance("house", "horn") == 3
    assert clean_hints("house", ["horn"], criteria, 5, anything) == ["horn"]


@pytest.mark.parametrize("criteria", BOTH)
def test_empty_hints_are_dropped(criteria: Criteria) -> None:
    assert clean_hints("dog", ["", "123", "?!", "bark"], criteria, 5, anything) == ["bark"]


@pytest.mark.parametrize("criteria", BOTH)
def test_repeated_hints_are_dropped_after_normalising(criteria: Criteria) -> None:
    hints = ["bark", "Bark!", "puppy", "b a r k"]
    assert clean_hints("dog", hints, criteria, 5, anything) == ["bark", "puppy"]


def test_soft_mode_cleans_then_keeps_the_first_n() -> None:
    hints = ["dog", "Dog!", "bark", "bark", "puppy", "leash"]
    assert clean_hints("dog", hints, "soft", 2) == ["bark", "puppy"]


def test_hard_mode_keeps_the_first_n_then_cleans() -> None:
    hints = ["dog", "Dog!", "bark", "bark", "puppy", "leash"]
    assert clean_hints("dog", hints, "hard", 2) == []
    assert clean_hints("dog", hints, "hard", 4) == ["bark"]


def test_soft_mode_keeps_hints_beyond_n_until_n_survive() -> None:
    hints = ["", "bark", "dig", "puppy", "leash", "collar"]
    assert clean_hints("dog", hints, "soft", 3) == ["bark", "puppy", "leash"]


def test_hard_mode_drops_hints_with_the_words_stem_soft_mode_keeps_them() -> None:
    assert stem("running") == stem("runs")
    assert edit_distance("running", "runs") >= 3
    assert "running" not in "runs"
    assert clean_hints("running", ["runs", "jog"], "hard", 5, anything) == ["jog"]
    assert clean_hints("running", ["runs", "jog"], "soft", 5, anything) == ["runs", "jog"]


def test_hard_mode_drops_words_missing_from_the_dictionary_soft_mode_keeps_them() -> None:
    known = {"bark", "puppy"}.__contains__
    hints = ["bark", "woofwoof", "puppy"]
    assert clean_hints("dog", hints, "hard", 5, known) == ["bark", "puppy"]
    assert clean_hints("dog", hints, "soft", 5, known) == hints


@pytest.mark.parametrize(
    ("criteria", "n_explain", "kept", "dropped"),
    [
        ("soft", 4, ["sprint", "runs", "xqzv", "walk"],
         [("Running!", "contains_word"), ("runnin", "too_close"), ("", "no_letters"),
          ("RUNS", "repeat"), ("jog", "beyond_n_explain")]),
        ("hard", 5, ["sprint"],
         [("Running!", "contains_word"), ("runnin", "too_close"), ("runs", "same_stem"),
          ("xqzv", "not_english"),
          *((hint, "beyond_n_explain") for hint in ["", "RUNS", "walk", "jog"])]),
    ],
)  # fmt: skip
def test_judge_hints_tells_why_each_dropped_hint_was_dropped(
    criteria: Criteria, n_explain: int, kept: list[str], dropped: list[tuple[str, DropReason]]
) -> None:
    hints = ["Running!", "sprint", "runnin", "runs", "xqzv", "", "RUNS", "walk", "jog"]
    known = {"runs", "sprint", "walk", "jog"}.__contains__
    assert judge_hints("running", hints, criteria, n_explain, known) == (
        kept,
        [DroppedHint(*d) for d in dropped],
    )
    assert clean_hints("running", hints, criteria, n_explain, known) == kept
    assert all(reason in DROP_REASONS for _, reason in dropped)


def test_hard_mode_uses_the_english_dictionary_by_default() -> None:
    hints = ["bark", "qwertyuiop", "puppies", "xkcdz", "leash"]
    assert clean_hints("dog", hints, "hard", 5) == ["bark", "puppies", "leash"]


@pytest.mark.parametrize(
    "word", ["dog", "bark", "cats", "played", "boxes", "wolves", "children", "running", "better"]
)
def test_english_words_and_their_inflections_are_in_the_dictionary(word: str) -> None:
    assert is_english_word(word)


@pytest.mark.parametrize("word", ["qwertyuiop", "xkcdz", "asdfgh", "dogx"])
def test_made_up_words_are_not_in_the_dictionary(word: str) -> None:
    assert not is_english_word(word)


def test_the_dictionary_is_large_and_lowercase() -> None:
    words = english_dictionary()
    assert len(words) > 100_000
    assert all(word == normalize(word) for word in words)


@pytest.mark.parametrize(
    ("guess", "counts"),
    [
        ("dog", True),
        ("DOG!", True),
        ("dogs", True),
        ("a dog", True),
        ("doggy", True),
        ("hotdogs", False),  # contains the word but four edits away
        ("dgo", False),
        ("do", False),
        ("cat", False),
    ],
)
def test_soft_guess_must_contain_the_word_within_two_edits(guess: str, counts: bool) -> None:
    assert is_guessed("dog", ["cat", guess], "soft") is counts


@pytest.mark.parametrize(
    ("guess", "counts"), [("dog", True), ("dogs", False), ("Dog", False), ("dog ", False)]
)
def test_hard_guess_must_be_the_word_itself(guess: str, counts: bool) -> None:
    assert is_guessed("dog", ["cat", guess], "hard") is counts


@pytest.mark.parametrize("criteria", BOTH)
def test_no_guesses_guess_nothing(criteria: Criteria) -> None:
    assert not is_guessed("dog", [], criteria)
