"""Read training text: a 20 Newsgroups tarball, a directory of text files, a text file, or a
MediaWiki ``.xml*.bz2`` dump."""

from __future__ import annotations

import hashlib
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree.ElementTree import ParseError

# English prose that ships inside gensim (its test data), the source of the default model:
# about 200 Wikipedia articles and the Lee news corpus, some 510,000 words.
DEFAULT_CORPUS_FILES = (
    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "lee_background.cor",
    "lee.cor",
)

# A post starts with one of these mail/news headers; other text is left as it is.
_MAIL_HEADER = re.compile(
    r"^(From|Newsgroups|Path|Subject|Message-ID|Date|Organization|Sender|Reply-To|Xref):\s",
    re.IGNORECASE,
)
_QUOTED_LINE = re.compile(r"^\s*(>|\||#|:|[A-Za-z]{1,4}>)")
_ATTRIBUTION = re.compile(r"(writes|wrote|says|said):\s*$|^In article <", re.IGNORECASE)
_SIGNATURE = re.compile(r"^-- ?$")


class CorpusError(ValueError):
    """A corpus file that cannot be read (truncated, corrupt, unreadable); names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


# What a truncated or corrupt archive or dump raises while it is read.
_UNREADABLE = (EOFError, OSError, tarfile.TarError, zlib.error, ParseError)


def default_corpus_dir() -> Path:
    """The directory of gensim's bundled test texts."""
    import gensim

    return Path(gensim.__file__).parent / "test" / "test_data"


def default_corpus_paths() -> list[Path]:
    """The text files the default model is trained on (shipped with gensim)."""
    base = default_corpus_dir()
    return [base / name for name in DEFAULT_CORPUS_FILES]


def strip_post(text: str) -> str:
    """The body of a mail or news post: header block, quoted reply lines, attributions and
    signature dropped. Text that does not start with a mail header is returned unchanged."""
    lines = text.splitlines()
    if not (lines and _MAIL_HEADER.match(lines[0])):
        return text
    blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    lines = lines[blank + 1 :]
    kept: list[str] = []
    for line in lines:
        if _SIGNATURE.match(line):
            break
        if not (_QUOTED_LINE.match(line) or _ATTRIBUTION.search(line)):
            kept.append(line)
    return "\n".join(kept)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _is_tarball(path: Path) -> bool:
    """Named like a tarball (then it must read as one) or read as one."""
    if path.name.endswith(_TARBALL_SUFFIXES):
        return True
    try:
        return tarfile.is_tarfile(path)
    except OSError as error:
        raise CorpusError(path, f"cannot be read ({error.strerror})") from None


def _wiki_articles(path: Path) -> Iterator[str]:
    """Plain text of the articles in a bz2 MediaWiki XML dump, redirects skipped."""
    import bz2

    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with bz2.open(path) as dump:
        for _title, markup, _page_id in extract_pages(dump):
            if not markup.lstrip().upper().startswith("#REDIRECT"):
                yield filter_wiki(markup)


def is_wiki_dump(path: Path) -> bool:
    """Whether ``path`` is named like a bz2 MediaWiki XML dump (``*.xml*.bz2``)."""
    return path.name.endswith(".bz2") and ".xml" in path.name


def iter_documents(paths: list[Path]) -> Iterator[str]:
    """Yield the text of every document under ``paths``, headers and quotes stripped.

    A tarball yields one document per regular member, a directory one per file (recursively,
    sorted), a MediaWiki ``.xml*.bz2`` dump one per article, any other file one document.
    A file that cannot be read, such as a truncated archive, raises :class:`CorpusError`.
    """
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                yield from _read(file, _text)
        elif not path.exists():
            raise FileNotFoundError(f"corpus path does not exist: {path}")
        elif is_wiki_dump(path):
            yield from _read(path, _wiki_articles)
        elif _is_tarball(path):
            yield from _read(path, _tar_members)
        else:
            yield from _read(path, _text)


def _read(path: Path, documents: Callable[[Path], Iterator[str]]) -> Iterator[str]:
    """``documents(path)``, with a read error raised as a CorpusError naming the file."""
    try:
        yield from documents(path)
    except _UNREADABLE as error:
        raise CorpusError(path, f"cannot be read, truncated or corrupt? ({error})") from None


def _text(path: Path) -> Iterator[str]:
    yield strip_post(_decode(path.read_bytes()))


def _tar_members(path: Path) -> Iterator[str]:
    with tarfile.open(path) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                yield strip_post(_decode(handle.read()))


def corpus_sha256(paths: list[Path]) -> str:
    """SHA-256 of the corpus bytes: each file in order, a directory's files sorted by path."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                with file.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
            except OSError as error:
                raise CorpusError(file, f"cannot be read ({error.strerror})") from None
    return digest.hexdigest()
