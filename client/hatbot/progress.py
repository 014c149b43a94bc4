"""Progress of long work: a tqdm bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Never, TextIO

from tqdm import tqdm

from hatbot.closing import Closing

#: Off a terminal, a line is logged for the first step, the last, and each tenth of the way.
LOG_STEPS = 10


class Progress(Closing):
    """Counts the ``total`` steps of a task named ``desc``, shown as "DESC N/TOTAL".

    On a terminal ``stream`` (stderr by default) it is a tqdm bar with the elapsed time, an ETA
    and the note of the last step; elsewhere (a pipe, a file, CI) ``logger`` logs an INFO line
    at the first step, the last and every tenth of the way, so logs stay short.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        unit: str = "step",
        logger: logging.Logger | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.desc = desc
        self.done = 0
        self._logger = logger or logging.getLogger("hatbot")
        stream = stream or sys.stderr
        self._bar: tqdm[Never] | None = None
        if stream.isatty():
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=stream,
                dynamic_ncols=True,
                bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}{postfix}",
            )

    def advance(self, note: str = "") -> None:
        """Count one more step done; ``note`` says what it was."""
        self.done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(note, refresh=False)
            self._bar.update()
        elif self.done in (1, self.total) or _tenth(self.done, self.total) > _tenth(
            self.done - 1, self.total
        ):
            self._logger.info(
                "%s %d/%d%s", self.desc, self.done, self.total, f": {note}" if note else ""
            )

    def close(self) -> None:
        """End the bar, leaving its last state on the terminal."""
        if self._bar is not None:
            self._bar.close()


def _tenth(done: int, total: int) -> int:
    return done * LOG_STEPS // max(total, 1)
