"""Prometheus metrics of one server, summed over its worker processes.

prometheus-client's multiprocess mode: every process writes its values to memory-mapped files
in one directory, and the parent's ``/metrics`` endpoint adds them up, so the figures stay
right whatever worker answered and after a worker is replaced. The directory must be named
before prometheus-client is imported, which :class:`Metrics` does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Latency buckets in seconds, from a lookup's fraction of a millisecond to the host's 1 s.
BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The server's metrics; made in the parent before its workers are forked.

    - ``hatbot_calls_total{method, code}``: calls finished, by gRPC status (or HTTP status);
    - ``hatbot_call_seconds{method}``: their latency, as the server saw it;
    - ``hatbot_calls_in_flight{method}``: calls being answered now;
    - ``hatbot_calls_shed_total{method}``: calls refused at once at the in-flight bound;
    - ``hatbot_calls_expired_total{method}``: calls not computed, their deadline passed;
    - ``hatbot_model_info{version, pid}``: 1 for the model version each worker serves;
    - ``hatbot_answers_live{version, pid}``: 1 while a worker computes every answer because
      the model's precomputed answers are missing or stale (``hatbot train --precompute-only``);
    - ``hatbot_reloads_total{outcome}``: model version changes: loaded, refused or failed;
    - ``hatbot_worker_restarts_total``: worker processes restarted after they died.
    """

    def __init__(self) -> None:
        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.directory = Path(given or tempfile.mkdtemp(prefix="hatbot-metrics-"))
        self._owned = given is None
        if given:  # prometheus-client's advice: wipe the directory between runs
            for stale in self.directory.glob("*.db"):
                stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(self.directory)
        import prometheus_client as prometheus

        self._prometheus = prometheus
        self.calls = prometheus.Counter(
            "hatbot_calls", "Calls finished, by method and status code", ["method", "code"]
        )
        self.latency = prometheus.Histogram(
            "hatbot_call_seconds", "Call latency in the server", ["method"], buckets=BUCKETS
        )
        self.in_flight = prometheus.Gauge(
            "hatbot_calls_in_flight",
            "Calls being answered",
            ["method"],
            multiprocess_mode="livesum",
        )
        self.shed = prometheus.Counter(
            "hatbot_calls_shed", "Calls refused at once at the in-flight bound", ["method"]
        )
        self.expired = prometheus.Counter(
            "hatbot_calls_expired",
            "Calls not computed because their deadline had passed",
            ["method"],
        )
        self.model = prometheus.Gauge(
            "hatbot_model_info",
            "1 for the model version a worker serves",
            ["version"],
            multiprocess_mode="liveall",
        )
        self.answers_live = prometheus.Gauge(
            "hatbot_answers_live",
            "1 while a worker computes answers its model's stored tables should hold",
            ["version"],
            multiprocess_mode="liveall",
        )
        self.reloads = prometheus.Counter(
            "hatbot_reloads", "Model version changes by outcome", ["outcome"]
        )
        self.restarts = prometheus.Counter(
            "hatbot_worker_restarts", "Worker processes restarted after they died"
        )

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` (the sum over all processes) from a thread; the bound port."""
        from prometheus_client import multiprocess

        registry = self._prometheus.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        server, _thread = self._prometheus.start_http_server(port, host, registry)
        bound: Any = server.server_port
        return int(bound)

    def serving(self, old: str | None, new: str, answers_live: bool) -> None:
        """This worker moved from model version ``old`` to ``new``, which it answers live
        or from stored tables."""
        if old is not None and old != new:
            self.model.labels(old).set(0)
            self.answers_live.labels(old).set(0)
        self.model.labels(new).set(1)
        self.answers_live.labels(new).set(int(answers_live))

    def process_exited(self, pid: int) -> None:
        """Drop the live gauges of a process that is gone."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Remove the value files (the parent, at exit)."""
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)
