"""Stop words: gensim's English list, less the content nouns a host may draw as secret words."""

from __future__ import annotations

from gensim.parsing.preprocessing import STOPWORDS

# Nouns in gensim's list that a host can draw as secret words, so they stay in the vocabulary.
CONTENT_NOUNS = frozenset(
    [
        "amount",
        "back",
        "bill",
        "bottom",
        "call",
        "computer",
        "cry",
        "detail",
        "fill",
        "fire",
        "front",
        "interest",
        "mill",
        "move",
        "name",
        "part",
        "show",
        "side",
        "system",
        "top",
    ]
)
STOP_WORDS = frozenset(STOPWORDS) - CONTENT_NOUNS


def content_words(tokens: list[str]) -> list[str]:
    """``tokens`` without stop words."""
    return [token for token in tokens if token not in STOP_WORDS]
