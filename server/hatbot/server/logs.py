"""``--log-format json``: every log line a JSON object, for log collectors.

Each object has ``time``, ``level``, ``logger``, ``process`` (``MainProcess`` is the parent,
``worker-N`` its workers) and ``message``, plus the record's own fields: the access log's
``method``, ``code``, ``latency_ms``, ``peer`` and ``model_version``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def use_json_logs() -> None:
    """Format every handler of the root logger as JSON."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
