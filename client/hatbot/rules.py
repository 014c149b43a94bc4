"""The host's rules of the Hat: how hint words are normalised, which hints survive cleaning."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import snowballstemmer
from rapidfuzz.distance import Levenshtein

_NON_LETTERS = re.compile(r"[^a-z]+")
_STEMMER = snowballstemmer.stemmer("english")

#: Hints closer than this many edits to the secret word are dropped by the host.
MIN_EDIT_DISTANCE = 3


def normalize(text: str) -> str:
    """Lowercase ``text`` and remove every character that is not a letter ``a``-``z``."""
    return _NON_LETTERS.sub("", text.lower())


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The English Snowball stem of a lowercase word."""
    return str(_STEMMER.stemWord(word))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    return int(Levenshtein.distance(a, b))


def is_legal_hint(word: str, hint: str) -> bool:
    """True when a normalised ``hint`` for ``word`` survives the host's cleaning in both modes.

    Stricter than either mode alone: no substring relation in either direction, at least
    :data:`MIN_EDIT_DISTANCE` edits apart and a different Snowball stem. Dictionary membership
    (hard mode) is left to the caller's vocabulary.
    """
    return (
        bool(hint)
        and word not in hint
        and hint not in word
        and edit_distance(word, hint) >= MIN_EDIT_DISTANCE
        and stem(word) != stem(hint)
    )


Criteria = Literal["soft", "hard"]

#: In soft mode a guess counts when fewer than this many edits from the word.
MAX_GUESS_DISTANCE = 3

# WordNet's "morphy" detachment rules (noun, verb and adjective inflections), so that the
# referee accepts an inflected form of a dictionary word as WordNet-based referees do.
_DETACHMENTS = (
    ("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
    ("shes", "sh"), ("men", "man"), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"),
    ("ed", ""), ("ing", "e"), ("ing", ""), ("er", ""), ("est", ""), ("er", "e"), ("est", "e"),
)  # fmt: skip


@lru_cache(maxsize=1)
def english_dictionary() -> frozenset[str]:
    """The referee's English word list: Webster's 2nd and GCIDE from ``english-words``."""
    from english_words import get_english_words_set

    words = get_english_words_set(["web2", "gcide"], alpha=True, lower=True)
    return frozenset(word for word in words if word == normalize(word))


def is_english_word(word: str) -> bool:
    """True when lowercase ``word``, or its base form by a WordNet detachment rule, is English."""
    words = english_dictionary()
    return word in words or any(
        word.endswith(suffix) and len(word) > len(suffix) and word[: -len(suffix)] + base in words
        for suffix, base in _DETACHMENTS
    )


DropReason = Literal[
    "beyond_n_explain", "no_letters", "repeat", "contains_word", "too_close", "same_stem",
    "not_english",
]  # fmt: skip

#: Why the host drops a hint, in words.
DROP_REASONS: dict[DropReason, str] = {
    "beyond_n_explain": "beyond n_explain",
    "no_letters": "no letters a-z",
    "repeat": "a repeat",
    "contains_word": "contains the word",
    "too_close": f"within {MIN_EDIT_DISTANCE - 1} edits of the word",
    "same_stem": "the word's stem",
    "not_english": "not a dictionary word",
}


@dataclass(frozen=True)
class DroppedHint:
    """A hint the host did not reveal: as the explainer gave it, and why."""

    hint: str
    reason: DropReason


def judge_hints(
    word: str,
    hints: Iterable[str],
    criteria: Criteria,
    n_explain: int,
    is_word: Callable[[str], bool] = is_english_word,
) -> tuple[list[str], list[DroppedHint]]:
    """The hints the host reveals for ``word`` (see :func:`clean_hints`), and those it drops."""
    target = normalize(word)
    kept: list[str] = []
    dropped: list[DroppedHint] = []
    for position, given in enumerate(hints):
        hint = normalize(given)
        reason: DropReason | None = None
        if len(kept) == n_explain or (criteria == "hard" and position >= n_explain):
            reason = "beyond_n_explain"
        elif not hint:
            reason = "no_letters"
        elif hint in kept:
            reason = "repeat"
        elif target in hint:
            reason = "contains_word"
        elif edit_distance(target, hint) < MIN_EDIT_DISTANCE:
            reason = "too_close"
        elif criteria == "hard" and stem(hint) == stem(target):
            reason = "same_stem"
        elif criteria == "hard" and not is_word(hint):
            reason = "not_english"
        if reason is None:
            kept.append(hint)
        else:
            dropped.append(DroppedHint(given, reason))
    return kept, dropped


def clean_hints(
    word: str,
    hints: Iterable[str],
    criteria: Criteria,
    n_explain: int,
    is_word: Callable[[str], bool] = is_english_word,
) -> list[str]:
    """The hints the host reveals for ``word``, in order.

    Hints are normalised; empty and repeated ones are dropped, and so are those containing the
    word or fewer than :data:`MIN_EDIT_DISTANCE` edits from it. Soft mode keeps the first
    ``n_explain`` of what survives; hard mode keeps the first ``n_explain`` hints as given, then
    also drops those sharing the word's stem and those ``is_word`` rejects.
    """
    return judge_hints(word, hints, criteria, n_explain, is_word)[0]


def is_guessed(word: str, guesses: Iterable[str], criteria: Criteria) -> bool:
    """True when one of ``guesses`` names ``word``.

    Hard mode wants the word itself; soft mode a normalised guess that contains the word and is
    fewer than :data:`MAX_GUESS_DISTANCE` edits from it (so "dogs" counts for "dog").
    """
    if criteria == "hard":
        return word in guesses
    target = normalize(word)
    return any(
        target in guess and edit_distance(target, guess) < MAX_GUESS_DISTANCE
        for guess in map(normalize, guesses)
    )
