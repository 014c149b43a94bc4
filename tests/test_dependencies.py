"""The client's requirements are compatible ranges; constraints.txt pins what is tested."""

from __future__ import annotations

import configparser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _requirements(text: str) -> list[Requirement]:
    return [Requirement(line) for line in text.splitlines() if line.strip()]


def _setup() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, pinned = line.partition("==")
        pins[canonicalize_name(name)] = pinned
    return pins


def test_install_requires_are_ranges_up_to_the_next_major() -> None:
    for requirement in _requirements(_setup()["options"]["install_requires"]):
        operators = sorted(spec.operator for spec in requirement.specifier)
        assert operators == ["<", ">="], f"{requirement}: want >=TESTED,<NEXT_MAJOR"
        upper = next(s.version for s in requirement.specifier if s.operator == "<")
        lower = next(s.version for s in requirement.specifier if s.operator == ">=")
        assert int(upper.split(".")[0]) == int(lower.split(".")[0]) + 1, requirement


def test_every_requirement_is_pinned_within_its_range() -> None:
    setup, pins = _setup(), _pins()
    requirements = _requirements(setup["options"]["install_requires"])
    for extra in setup["options.extras_require"].values():
        requirements += _requirements(extra)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} has no pin in constraints.txt"
        assert requirement.specifier.contains(pins[name]), (requirement, pins[name])
