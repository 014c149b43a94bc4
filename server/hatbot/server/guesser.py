"""The default guesser: adds up every hint's scores (:mod:`hatbot.server.scores`) and picks
the best candidates that the host's rules allow."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hatbot import rules
from hatbot.rules import Criteria
from hatbot.server.scores import HintScores, Scores
from hatbot.server.tables import Candidates

try:
    from hatbot.server import _ranking
except ImportError as error:  # an install without a C compiler: setup.py builds it optionally
    raise ImportError(
        "hatbot.server._ranking, the guesser's compiled ranking, is not built: install a C "
        "compiler and Python's headers (apt-get install gcc python3-dev), then reinstall hatbot"
    ) from error

_CACHED_GUESSES = 4096
Row = npt.NDArray[np.int16] | npt.NDArray[np.float32]  # a hint's scores: stored or live


def possible(hints: tuple[str, ...], criteria: Criteria) -> Callable[[str], bool]:
    """A test of whether a word can be the secret word once the host has kept every one of
    ``hints``.

    Both modes drop hints containing the word or within two edits of it; the hard mode also
    drops hints sharing its stem or contained in it (:func:`hatbot.rules.is_legal_hint`). The
    soft mode keeps those (``protect`` for ``protection``), and opponents' explainers give them
    often. The string checks are compiled, and the hints' stems found once: a Guess tries
    dozens of words against the same hints.
    """
    if criteria == "soft":
        return lambda word: _ranking.unrelated(word, hints, False, rules.MIN_EDIT_DISTANCE)
    stems = frozenset(rules.stem(hint) for hint in hints)
    return lambda word: (
        _ranking.unrelated(word, hints, True, rules.MIN_EDIT_DISTANCE)
        and rules.stem(word) not in stems
    )


@dataclass(frozen=True)
class GuesserParams:
    """How the guesser adds up its hints' scores (tuned on the development nouns only; the
    scores themselves are :class:`hatbot.server.scores.ScoreParams`)."""

    hint_decay: float = 0.15  # hint i weighs 1 / (1 + decay * (i - 1)): earlier hints are stronger
    frequency_prior: float = 0.1  # times log(count): secret words are common words


class Guesser:
    """Ranks candidates by the summed, hub-corrected similarity to every hint.

    A candidate related to all hints beats one close to a single hint, and a candidate that has
    the hint among its own nearest neighbours gains a little. Guesses are one form per
    singular/plural group; nothing the hints make impossible under the host's criteria is
    guessed (see :func:`possible`). A guesser still asked after hint i has guessed wrong so far,
    so its own (deterministic) guesses for the shorter prefixes are not repeated.
    """

    def __init__(
        self, candidates: Candidates, scores: HintScores, params: GuesserParams | None = None
    ) -> None:
        self.candidates = candidates
        self.scores = scores
        self.params = params or GuesserParams()
        self._prior = (self.params.frequency_prior * candidates.log_counts).astype(np.float32)
        self._group = np.ascontiguousarray(candidates.group, dtype=np.int64)
        self._groups: list[int] = candidates.group.tolist()
        self._representative: dict[Criteria, list[int]] = {
            "hard": candidates.representative.tolist(),
            "soft": candidates.soft_representative.tolist(),
        }
        self._cache: OrderedDict[tuple[tuple[str, ...], int, Criteria], tuple[int, ...]]
        self._cache = OrderedDict()
        self._lock = threading.Lock()

    def guess(self, hints: Sequence[str], n_words: int, criteria: Criteria = "hard") -> list[str]:
        """Up to ``n_words`` guesses for normalised ``hints``, best first."""
        words = self.candidates.words
        return [words[row] for row in self._guesses(tuple(hints), n_words, criteria)]

    def _guesses(self, hints: tuple[str, ...], n_words: int, criteria: Criteria) -> tuple[int, ...]:
        """Candidate rows guessed after each prefix of ``hints`` in turn; the last prefix's."""
        total: Scores = np.zeros(len(self._groups), np.float32)  # the weighted hint scores
        scored = False
        banned: set[int] = set()
        guessed: tuple[int, ...] = ()
        for end, hint in enumerate(hints, 1):
            found = self.scores(hint)
            row, weight = None, 0.0
            if found is not None:
                row, scale = found
                weight = scale / (1.0 + self.params.hint_decay * (end - 1))
                scored = True
            key = (hints[:end], n_words, criteria)
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
            if cached is None:
                cached = (
                    self._rank(total, row, weight, hints[:end], n_words, banned, criteria)
                    if scored  # else no hint so far is known: nothing to rank
                    else ()
                )
                with self._lock:
                    self._cache[key] = cached
                    if len(self._cache) > _CACHED_GUESSES:
                        self._cache.popitem(last=False)
            elif row is not None:  # a cached prefix: its row is still added for the next ones
                _ranking.add_and_rank(total, row, weight, self._prior, self._group, 0)
            guessed = cached
            banned.update(self._groups[row] for row in guessed)
        return guessed

    def _rank(
        self,
        total: Scores,
        row: Row | None,
        weight: float,
        hints: tuple[str, ...],
        n_words: int,
        banned: set[int],
        criteria: Criteria,
    ) -> tuple[int, ...]:
        """Adds ``row * weight`` to ``total``, then the best ``n_words`` possible groups among
        the first 8n+40 by their best member.

        The groups come in order from the top candidates (by score, then group), not from a
        pass over every group. The first ranking takes 4n+12 candidates: on unseen 20
        Newsgroups requests the answer came from within the first 25 in 99% of rankings and
        needed more than 32 in 0.01%, where a larger one follows.
        """
        n = len(self._groups)
        limit = min(len(self._representative["hard"]), 8 * n_words + 40)
        representative = self._representative[criteria]
        words = self.candidates.words
        count = min(n, 4 * n_words + 12)
        allowed = possible(hints, criteria)
        while True:
            top = _ranking.add_and_rank(total, row, weight, self._prior, self._group, count)
            row = None  # added once
            seen: set[int] = set()
            guesses: list[int] = []
            for member in top:
                member_group = self._groups[member]
                if member_group in seen:
                    continue
                seen.add(member_group)
                if len(seen) > limit:
                    return tuple(guesses)
                if member_group in banned:
                    continue
                guess = representative[member_group]
                if allowed(words[guess]):
                    guesses.append(guess)
                    if len(guesses) == n_words:
                        return tuple(guesses)
            if count == n:
                return tuple(guesses)
            count = min(n, 4 * count)
