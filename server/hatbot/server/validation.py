"""Checks of request fields; a failure names the field and becomes INVALID_ARGUMENT."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hatbot import rules
from hatbot.rules import Criteria
from hatbot.v1 import hatbot_pb2

MAX_WORD_LENGTH = 64
MAX_N_WORDS = 100
MAX_HINTS = 50
_ASCII_LETTERS = re.compile(r"[A-Za-z]+")


class InvalidArgumentError(ValueError):
    """A request field is out of its documented range; the message starts with the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def secret_word(value: str, field: str = "word") -> str:
    """The lowercase secret word, or InvalidArgumentError unless it is 1-64 ASCII letters."""
    if not value:
        raise InvalidArgumentError(field, "must not be empty")
    if len(value) > MAX_WORD_LENGTH:
        raise InvalidArgumentError(field, f"must be at most {MAX_WORD_LENGTH} characters")
    if not _ASCII_LETTERS.fullmatch(value):
        raise InvalidArgumentError(field, f"must contain only letters a-z, got {_shown(value)}")
    return value.lower()


def n_words(value: int, field: str = "n_words") -> int:
    """``value`` when it is 1..100, else InvalidArgumentError."""
    if not 1 <= value <= MAX_N_WORDS:
        raise InvalidArgumentError(field, f"must be between 1 and {MAX_N_WORDS}, got {value}")
    return value


def criteria(value: int, default: Criteria, field: str = "criteria") -> Criteria:
    """The host's criteria from the contract's enum; ``default`` when unspecified."""
    if value == hatbot_pb2.CRITERIA_UNSPECIFIED:
        return default
    if value == hatbot_pb2.CRITERIA_SOFT:
        return "soft"
    if value == hatbot_pb2.CRITERIA_HARD:
        return "hard"
    raise InvalidArgumentError(field, f"must be a defined Criteria value, got {value}")


def hints(values: Sequence[str], field: str = "words") -> list[str]:
    """Hints normalised as the host cleans them; InvalidArgumentError for a bad list or entry."""
    if not values:
        raise InvalidArgumentError(field, "must contain at least one hint")
    if len(values) > MAX_HINTS:
        raise InvalidArgumentError(field, f"must have at most {MAX_HINTS} hints, got {len(values)}")
    cleaned: list[str] = []
    for i, value in enumerate(values):
        if len(value) > MAX_WORD_LENGTH:
            raise InvalidArgumentError(
                f"{field}[{i}]", f"must be at most {MAX_WORD_LENGTH} characters"
            )
        hint = rules.normalize(value)
        if not hint:
            raise InvalidArgumentError(f"{field}[{i}]", f"has no letters a-z: {_shown(value)}")
        cleaned.append(hint)
    return cleaned
