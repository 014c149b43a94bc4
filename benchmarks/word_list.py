"""Build a held-out list of common words from the corpus, by a fixed seeded rule.

    python benchmarks/word_list.py [--corpus ../shared/corpora/20news-bydate.tar.gz] \\
        [--out benchmarks/words/heldout.txt] [--size 100] [--seed 20240601] [--exclude FILE ...]

The rule was fixed before any result was looked at: words whose corpus count lies between the
10th and 90th percentile of the development nouns' counts, letters only, four or more letters,
no stop word, no development noun, not ending in -ly, -ing or -ed (to lean towards nouns);
sorted, then 100 drawn with ``random.Random(20240601)``. Nothing is tuned on this list.
Further lists (another ``--seed``, ``--exclude`` the earlier ones) follow the same rule.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

import numpy as np

from hatbot.models.corpus import iter_documents
from hatbot.models.store import write_text_atomic
from hatbot.models.tokenize import tokenize
from hatbot.models.vocabulary import STOP_WORDS, content_words

SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED = 20240601


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpora" / "20news-bydate.tar.gz")
    parser.add_argument("--dev", type=Path, default=SHARED / "words" / "dev_nouns.txt")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/words/heldout.txt"))
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--exclude", type=Path, nargs="*", default=[], help="word files not to draw from"
    )
    args = parser.parse_args()

    counts: Counter[str] = Counter()
    for document in iter_documents([args.corpus]):
        counts.update(content_words(tokenize(document)))
    dev = set(args.dev.read_text().split())
    excluded = {word for path in args.exclude for word in path.read_text().split()}
    low, high = np.percentile([counts[word] for word in dev], [10, 90])
    eligible = sorted(
        word
        for word, count in counts.items()
        if low <= count <= high
        and word.isalpha()
        and len(word) >= 4
        and word not in STOP_WORDS
        and word not in dev
        and word not in excluded
        and not word.endswith(("ly", "ing", "ed"))
    )
    words = random.Random(args.seed).sample(eligible, args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, "\n".join(words) + "\n")
    print(f"{len(eligible)} eligible words with counts {low:.0f}..{high:.0f}; wrote {args.out}")


if __name__ == "__main__":
    main()
