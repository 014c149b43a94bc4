"""Value types for the ``hatbot`` subcommands' options: a bad value gets a one-line error that
says what was expected (argparse adds the option's name)."""

from __future__ import annotations

import argparse
import math

MAX_PORT = 65535


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
