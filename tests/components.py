"""Real components a test needs (nginx, Chromium, podman...): without one, a test fails in CI
(``CI=true``, which ``.ci/run`` sets) and is skipped elsewhere, with what to install."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    """Fail in CI, else skip, saying ``message`` (what is missing and how to install it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
