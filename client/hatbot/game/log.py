"""The game log: one JSON object per line, flushed as soon as it is written."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from hatbot.closing import Closing


class GameLog(Closing):
    """Writes log records to ``stream``, flushing after each so a crash loses none."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @classmethod
    def open(cls, path: str | Path) -> GameLog:
        """A log writing to a new file at ``path``, replacing any file there."""
        return cls(Path(path).open("w", encoding="utf-8"))

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line."""
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Close the underlying stream."""
        self._stream.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of the log at ``path``, in order."""
    with Path(path).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
