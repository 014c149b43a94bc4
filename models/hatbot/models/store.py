"""The on-disk layout of a trained model directory and its manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

Metric = Literal["angular", "euclidean", "manhattan", "hamming", "dot"]

MANIFEST = "manifest.json"
VECTORS = "vectors.kv"  # gensim KeyedVectors, unit-normalised; arrays beside it as .npy (mmap)
INDEX = "index.ann"  # Annoy index over the same rows, metric "angular"
VIEWS = "views"  # further views of the corpus, each NAME.kv (+ .npy) and NAME.ann
FORMAT_VERSION = 1


@dataclass(frozen=True)
class AnnoySettings:
    """Annoy trade-offs: ``n_trees`` buys recall with index size and build time,
    ``search_k`` buys recall with query time (-1 means Annoy's default, n_trees * n)."""

    n_trees: int = 10
    search_k: int = 5000
    metric: Metric = "angular"


@dataclass(frozen=True)
class Manifest:
    """Everything needed to reproduce and identify a model directory."""

    name: str
    version: str
    built_at: str
    algorithm: str
    corpus: dict[str, Any]
    training: dict[str, Any]
    annoy: AnnoySettings
    vocabulary_size: int
    vector_size: int
    timings_seconds: dict[str, float]
    libraries: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported model format_version {data.get('format_version')!r}")
        data["annoy"] = AnnoySettings(**data["annoy"])
        return cls(**data)


def view_files(view: str) -> tuple[Path, Path]:
    """Paths, relative to a model directory, of an extra view's vectors and Annoy index."""
    return Path(VIEWS) / f"{view}.kv", Path(VIEWS) / f"{view}.ann"


def read_manifest(model_dir: Path) -> Manifest:
    """Load the manifest of a model directory, failing clearly when it is not one: a
    FileNotFoundError without a manifest, a ValueError naming the file for a garbled one."""
    path = model_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"not a hatbot model directory (no {MANIFEST}): {model_dir}")
    try:
        return Manifest.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not a valid model manifest: {error}") from None


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(model_dir: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of every file of a model directory but its manifest; ``known`` digests are
    taken as they are (files that did not change), the others are computed."""
    known = known or {}
    digests: dict[str, str] = {}
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            name = str(path.relative_to(model_dir))
            digests[name] = known[name] if name in known else file_sha256(path)
    return digests


def refresh_file_digests(model_dir: Path, changed: list[str]) -> None:
    """Rewrite the manifest's file digests after files named in ``changed`` were written."""
    manifest = read_manifest(model_dir)
    known = {name: digest for name, digest in manifest.files.items() if name not in changed}
    refreshed = replace(manifest, files=file_digests(model_dir, known))
    write_text_atomic(model_dir / MANIFEST, refreshed.to_json())


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        handle.write(data)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed to ``path`` when the block succeeds,
    removed when it fails, so readers see the old file or the new one, never a partial one.

    The file keeps the mode of the one it replaces; a new one is readable by everyone (0644,
    like a published model: servers may run as another user).
    """
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)  # mkstemp's files are private
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def staging_dir(out: Path) -> Path:
    """A fresh empty directory beside ``out`` to build a model in before publishing it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` is a directory with a model manifest."""
    return (path / MANIFEST).is_file()


def check_publishable(out: Path, replace: bool) -> None:
    """Raise FileExistsError unless a model may be published to ``out``: nothing is there, or
    a model directory is and ``replace`` is set. Anything else is never replaced."""
    if out.is_symlink():
        raise FileExistsError(f"{out}: is a symbolic link; not replacing it")
    if not out.exists():
        return
    if not is_model_dir(out):
        raise FileExistsError(
            f"{out}: exists and is not a model directory (no {MANIFEST}); not replacing it"
        )
    if not replace:
        raise FileExistsError(f"{out}: a model is there already; pass --force to replace it")


def publish(staged: Path, out: Path, replace: bool) -> None:
    """Move a fully written model directory to ``out`` with renames.

    Readers see either the old directory or the new one, never a partial model; with
    ``replace`` an existing model at ``out`` is moved aside first and removed after the swap.
    Raises FileExistsError (and removes ``staged``) when :func:`check_publishable` refuses.
    """
    staged.chmod(0o755)  # mkdtemp makes it private; a model is read by other users (Docker)
    for path in staged.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        check_publishable(out, replace)
    except FileExistsError:
        shutil.rmtree(staged)
        raise
    if not out.exists():
        os.rename(staged, out)
        return
    retired = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.retired-"))
    os.rename(out, retired / out.name)
    os.rename(staged, out)
    shutil.rmtree(retired)


def default_model_dir() -> Path:
    """Where ``hatbot serve`` and ``hatbot train`` keep the default model:
    ``$HATBOT_MODEL_DIR``, else ``$XDG_DATA_HOME/hatbot/models/default``."""
    explicit = os.environ.get("HATBOT_MODEL_DIR")
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "hatbot" / "models" / "default"
