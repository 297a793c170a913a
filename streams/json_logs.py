"""Structured JSON logs for workers: one JSON object per line, ready for a log pipeline.

``logging_config(level)`` is a ``logging.config.dictConfig`` mapping that faust's worker
installs in place of its coloured console output. Fields: ``ts``, ``level``, ``logger``,
``message``, plus ``exc`` with the traceback when there is one, and any ``extra=`` fields.
A line logged inside a span carries its ``trace_id`` and ``span_id`` (hex, as trace backends
show them), and one logged while an event is processed its ``request_id`` (``tracing``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from opentelemetry import trace

from swerve.streams.tracing import current_request_id

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(trace_fields())
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def trace_fields() -> dict[str, str]:
    """``trace_id``, ``span_id`` of the current span and ``request_id`` of the current event, those that are set."""
    fields: dict[str, str] = {}
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        fields["trace_id"] = trace.format_trace_id(span_context.trace_id)
        fields["span_id"] = trace.format_span_id(span_context.span_id)
    request_id = current_request_id()
    if request_id is not None:
        fields["request_id"] = request_id
    return fields


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig that sends every logger's records to stdout as JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"level": level.upper(), "handlers": ["stdout"]},
    }
