"""Model versions under a model root, as TF Serving lays them out: ``ROOT/VERSION/``.

A version is a directory named by a positive integer, complete once it holds
``manifest.json`` (``hatbot train --out ROOT/N`` publishes it whole, by a rename); the newest
complete one is served. Before a version replaces the served one, every file its manifest
lists is checked against the manifest's SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path

from hatbot.models import store


class RefusedVersionError(ValueError):
    """A model version that must not be served; the message says why, in one line."""


def newest(root: Path) -> Path | None:
    """The highest-numbered complete version under ``root``; None when there is none."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return None
    versions = [
        entry
        for entry in entries
        if entry.name.isdecimal() and int(entry.name) > 0 and (entry / store.MANIFEST).is_file()
    ]
    return max(versions, key=lambda entry: int(entry.name), default=None)


def verify(model_dir: Path) -> store.Manifest:
    """The manifest of ``model_dir`` once every file it lists has the recorded digest."""
    try:
        manifest = store.read_manifest(model_dir)
    except (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError) as error:
        raise RefusedVersionError(f"unreadable manifest: {error}") from None
    if not manifest.files:
        raise RefusedVersionError("its manifest lists no files")
    for name, digest in sorted(manifest.files.items()):
        path = model_dir / name
        try:
            actual = store.file_sha256(path)
        except OSError as error:
            raise RefusedVersionError(f"{name}: {error.strerror or error}") from None
        if actual != digest:
            raise RefusedVersionError(f"{name}: SHA-256 differs from the manifest's")
    return manifest
