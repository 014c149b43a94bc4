"""The host's rules of the Hat: how hint words are normalised, which hints survive cleaning."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
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
    target = normalize(word)
    given = list(hints)
    if criteria == "hard":
        given = given[:n_explain]
    kept: list[str] = []
    for hint in map(normalize, given):
        if len(kept) == n_explain:
            break
        if (
            not hint
            or hint in kept
            or target in hint
            or edit_distance(target, hint) < MIN_EDIT_DISTANCE
            or (criteria == "hard" and (stem(hint) == stem(target) or not is_word(hint)))
        ):
            continue
        kept.append(hint)
    return kept


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
