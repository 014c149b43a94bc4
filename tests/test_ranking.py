"""The guesser's compiled ranking and rule checks against the numpy and Python they replace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hatbot import rules
from hatbot.server import _ranking
from hatbot.server.guesser import Row, possible

Arrays = tuple[npt.NDArray[np.float32], Row, npt.NDArray[np.float32], npt.NDArray[np.int64]]


def arrays(n: int, seed: int, spread: int, dtype: type[np.int16] | type[np.float32]) -> Arrays:
    """A running total, a hint's row, a prior and groups; a small ``spread`` makes ties."""
    rng = np.random.default_rng(seed)
    total = (rng.integers(-spread, spread + 1, n) / 4).astype(np.float32)
    values = rng.integers(-spread, spread + 1, n)
    row: Row = values.astype(np.int16) if dtype is np.int16 else values.astype(np.float32)
    prior = (rng.integers(0, spread + 1, n) / 8).astype(np.float32)
    group = rng.integers(0, max(1, n // 2), n).astype(np.int64)  # about two rows a group
    return total, row, prior, group


def numpy_ranking(
    scores: npt.NDArray[np.float32], group: npt.NDArray[np.int64], count: int
) -> list[int]:
    """Every row by score, then group, then row; the first ``count``."""
    order = np.lexsort((np.arange(len(scores)), group, -scores))
    return [int(row) for row in order[:count]]


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("spread", [3, 30_000])
@pytest.mark.parametrize(
    ("n", "count"),
    [(0, 5), (1, 1), (31, 5), (500, 32), (1023, 32), (1024, 32), (5000, 32), (5000, 512),
     (5000, 5000), (300, 400), (2000, 0)],
)  # fmt: skip
def test_adds_as_numpy_does_and_ranks_every_row_in_order(
    n: int, count: int, spread: int, dtype: type[np.int16] | type[np.float32]
) -> None:
    total, row, prior, group = arrays(n, seed=n + count + spread, spread=spread, dtype=dtype)
    weight = 0.000731 if spread > 100 else 0.5
    expected_total = total + row * np.float32(weight)
    ranked = _ranking.add_and_rank(total, row, weight, prior, group, count)
    assert total.tobytes() == expected_total.tobytes()  # bit for bit
    assert ranked == numpy_ranking(expected_total + prior, group, count)


def test_without_a_row_it_only_ranks() -> None:
    total, _, prior, group = arrays(3000, seed=1, spread=100, dtype=np.int16)
    before = total.copy()
    assert _ranking.add_and_rank(total, None, 2.0, prior, group, 40) == numpy_ranking(
        total + prior, group, 40
    )
    assert total.tobytes() == before.tobytes()


def test_reads_memory_mapped_rows(tmp_path: Path) -> None:
    total, row, prior, group = arrays(4000, seed=2, spread=30_000, dtype=np.int16)
    path = f"{tmp_path}/rows.npy"
    np.save(path, np.stack([row, row]))
    mapped = np.load(path, mmap_mode="r")
    expected = numpy_ranking(total + mapped[1] * np.float32(0.01) + prior, group, 20)
    assert _ranking.add_and_rank(total, mapped[1], 0.01, prior, group, 20) == expected


def test_bad_arrays_are_refused_by_name() -> None:
    total, row, prior, group = arrays(100, seed=3, spread=100, dtype=np.int16)
    cases: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"total": total.astype(np.float64)}, TypeError, "total must be"),
        ({"row": row.astype(np.int32)}, TypeError, "row must be"),
        ({"prior": prior[:50]}, ValueError, "one length"),
        ({"group": group.astype(np.int32)}, TypeError, "group must be"),
        ({"prior": np.stack([prior, prior])}, TypeError, "prior must be"),
        ({"total": total[::2]}, ValueError, "contiguous"),
        ({"count": -1}, ValueError, "count must not be negative"),
    ]
    for change, error, message in cases:
        arguments: dict[str, object] = {
            "total": total, "row": row, "weight": 1.0, "prior": prior, "group": group, "count": 5
        }  # fmt: skip
        arguments.update(change)
        with pytest.raises(error, match=message):
            _ranking.add_and_rank(*arguments.values())  # type: ignore[arg-type]
    read_only = total.copy()
    read_only.flags.writeable = False
    with pytest.raises((ValueError, BufferError), match="read-only"):
        _ranking.add_and_rank(read_only, row, 1.0, prior, group, 5)


# Few letters, so that substrings and near words are common; some words longer than the C
# code's stack buffer (31 code points); and code points of every width Python stores.
LETTERS = st.sampled_from("abcde")
WORDS = st.one_of(
    st.text(LETTERS, max_size=8),
    st.text(LETTERS, min_size=30, max_size=45),
    st.text(st.sampled_from("abé\u0100\U0001f600"), max_size=6),
)


@settings(max_examples=3000, deadline=None)
@given(word=WORDS, hints=st.lists(WORDS, max_size=5).map(tuple))
def test_possible_applies_the_hosts_rules(word: str, hints: tuple[str, ...]) -> None:
    soft = all(
        word not in hint and rules.edit_distance(word, hint) >= rules.MIN_EDIT_DISTANCE
        for hint in hints
    )
    assert possible(hints, "soft")(word) == soft
    assert possible(hints, "hard")(word) == all(rules.is_legal_hint(word, h) for h in hints)


@pytest.mark.parametrize(
    ("word", "hints", "both_ways", "expected"),
    [
        ("lake", (), True, True),
        ("lake", ("river", "boat"), True, True),
        ("lake", ("river", "lakes"), False, False),  # contains the word
        ("protection", ("protect",), False, True),  # contained in it: soft keeps it
        ("protection", ("protect",), True, False),
        ("lake", ("like",), False, False),  # 1 edit
        ("lake", ("lik",), False, False),  # 2 edits
        ("lake", ("li",), False, True),  # 3 edits
        ("lake", ("",), False, True),
        ("lake", ("",), True, False),  # the empty hint is in every word
        ("a" * 40, ("a" * 38 + "bb",), False, False),
        ("a" * 40, ("a" * 37 + "bbb",), False, True),
    ],
)
def test_unrelated_on_the_edges(
    word: str, hints: tuple[str, ...], both_ways: bool, expected: bool
) -> None:
    assert _ranking.unrelated(word, hints, both_ways, rules.MIN_EDIT_DISTANCE) is expected


@pytest.mark.parametrize(
    ("min_edits", "expected"), [(0, True), (1, True), (2, True), (3, False), (4, False)]
)
def test_unrelated_takes_the_distance_as_given(min_edits: int, expected: bool) -> None:
    assert _ranking.unrelated("lake", ("lik",), False, min_edits) is expected  # 2 edits apart


@pytest.mark.parametrize(
    "args",
    [
        ("lake", ["river"], False, 3),
        (b"lake", ("river",), False, 3),
        ("lake", ("river", 3), False, 3),
        ("lake", ("river",), False, 3.0),
        ("lake", ("river",), False),
    ],
)
def test_unrelated_refuses_wrong_types(args: tuple[object, ...]) -> None:
    with pytest.raises(TypeError):
        _ranking.unrelated(*args)  # type: ignore[arg-type]
