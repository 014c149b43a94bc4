"""Split text into lowercase letter-only words, the only form a hint or guess can take."""

from __future__ import annotations

import re
from collections.abc import Iterator

# Whitespace-separated chunks that are addresses, paths or code, not prose.
_NOISE = re.compile(r"[@/\\_=<>{}#$%^*~]|://|www\.|\.(com|edu|org|gov|net)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

MIN_WORD_LENGTH = 2
MAX_WORD_LENGTH = 25
# Longest "sentence" handed to the trainer; gensim truncates at 10,000 tokens anyway.
MAX_SENTENCE = 1000


def tokenize(text: str) -> list[str]:
    """Lowercase words of ``text``: apostrophes dropped, chunks with digits or noise skipped."""
    words: list[str] = []
    for chunk in text.lower().split():
        if _NOISE.search(chunk) or any(c.isdigit() for c in chunk):
            continue
        for match in _WORD.findall(chunk):
            word = match.replace("'", "")
            if MIN_WORD_LENGTH <= len(word) <= MAX_WORD_LENGTH:
                words.append(word)
    return words


def sentences(documents: Iterator[str]) -> Iterator[list[str]]:
    """Token lists of at most :data:`MAX_SENTENCE` words, one or more per document."""
    for document in documents:
        tokens = tokenize(document)
        for start in range(0, len(tokens), MAX_SENTENCE):
            yield tokens[start : start + MAX_SENTENCE]
