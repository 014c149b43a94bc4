"""Reading a test server's Prometheus ``/metrics``."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from hatbot.server.process import ServerProcess


def metrics(server: ServerProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The server's /metrics as (sample name, labels) -> value."""
    with urllib.request.urlopen(server.wait_metrics(), timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples with ``labels`` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in metrics(server).items() if n == name and wanted <= ls)
