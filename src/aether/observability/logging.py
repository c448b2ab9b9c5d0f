"""Process-wide logging: one JSON object per line, each naming the service, run and trace.

A line written while a run is being served (in the gateway or any agent service) carries that
run's id and its W3C trace id, which is the MLflow trace's id too when tracing is on, so
`grep <run id>` over every service's logs, or a log query on `trace_id`, finds one request's
lines everywhere. `LOG_FORMAT=text` gives the same fields as plain text for a terminal.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Final, Literal

from aether.mesh.trace_context import install_log_context

_TEXT_FORMAT: Final = (
    "%(asctime)s %(levelname)s %(service)s %(name)s [run=%(run_id)s trace=%(trace_id)s]: "
    "%(message)s"
)
# LogRecord's own attributes: anything else on a record came from `extra=` and is logged too.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "service",
    "run_id",
    "trace_id",
    "taskName",
}

LogFormat = Literal["json", "text"]


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "service", "logger", "message", "run_id", "trace_id", ...}`, plus any
    `extra=` fields and the formatted exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "trace_id": getattr(record, "trace_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class _ServiceFilter(logging.Filter):
    """Gives text-format records the `service` field the format string names."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


def configure_logging(level: str, service: str = "aether", fmt: LogFormat = "json") -> None:
    """Root logging for this process: `service` is its role (gateway, architect, ...)."""
    install_log_context()
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
        handler.addFilter(_ServiceFilter(service))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Access logs of every probe and chunk would drown the events that matter.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
