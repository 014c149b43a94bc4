"""The guesser's compiled ranking (``_ranking.c``)."""

import numpy as np
import numpy.typing as npt

def add_and_rank(
    total: npt.NDArray[np.float32],
    row: npt.NDArray[np.int16] | npt.NDArray[np.float32] | None,
    weight: float,
    prior: npt.NDArray[np.float32],
    group: npt.NDArray[np.int64],
    count: int,
) -> list[int]:
    """Add ``row * weight`` to ``total`` in place (float32; nothing when ``row`` is None), then
    return the ``count`` rows of highest ``total + prior``, best first; ties go to the lower
    ``group``, then the lower row."""

def unrelated(word: str, hints: tuple[str, ...], both_ways: bool, min_edits: int) -> bool:
    """Whether no hint contains ``word`` (nor, with ``both_ways``, is contained in it) and every
    hint is at least ``min_edits`` Levenshtein edits from it."""
