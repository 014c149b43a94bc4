"""The ``hatbot`` command's argparse parts: a parser whose errors are one line, a help format
that shows every default, and value types whose errors say what was expected (argparse adds
the option's name)."""

from __future__ import annotations

import argparse
import math
import textwrap
from pathlib import Path
from typing import Any, NoReturn

MAX_PORT = 65535


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a wrong invocation in one line on stderr, exit code 2,
    and shows defaults in its help (:class:`HelpFormatter`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: VALUE)" to an option's help unless its help already says it, it has
    no default or it is a flag. A description or epilog paragraph of one line is wrapped, one
    of several lines (examples, tables) is kept as it is."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break inside a path or an option name at its hyphens.
        return textwrap.wrap(
            " ".join(text.split()), width, break_on_hyphens=False, break_long_words=False
        )

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            textwrap.fill(
                " ".join(paragraph.split()),
                width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_on_hyphens=False,
                break_long_words=False,
            )
            if "\n" not in paragraph
            else "\n".join(indent + line for line in paragraph.splitlines())
            for paragraph in text.split("\n\n")
        )

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        default = action.default
        if (
            "(default" in help_text
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or not action.option_strings
        ):
            return help_text
        shown = ", ".join(map(str, default)) if isinstance(default, list) else "%(default)s"
        return f"{help_text} (default: {shown})" if help_text else f"(default: {shown})"


def examples(*lines: str) -> str:
    """An epilog of example command lines."""
    heading = "example:" if len(lines) == 1 else "examples:"
    return "\n".join([heading, *(f"  {line}" for line in lines)])


def _integer(text: str, expected: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds, 0 included."""
    return _seconds(text)


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0."""
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port number, 0 to 65535 (0: the system picks a free one)."""
    value = _integer(text, "a port number")
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be a port between 0 and {MAX_PORT}, got {value}")
    return value


def existing_path(text: str) -> Path:
    """A path to a file or directory that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or directory: {text!r}")
    return path
