"""Process logging, one set-up for every role (API, consumers, relay, workers).

``SHOPFLOW_LOG_FORMAT=json`` writes one JSON object per line (timestamp, level, logger, event
and the fields passed in ``extra``); ``console`` the same fields, readable. Standard-library
loggers (uvicorn, librdkafka via ``shopflow.kafka``, Dagster) and structlog loggers go through
the same handler. Values bound with ``bind`` (the request id of the request being served) join
every line logged in that context.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from shopflow.config import Settings, get_settings

HANDLER_NAME = "shopflow"
_json_lines = False  # SHOPFLOW_LOG_FORMAT=json: ``write_json`` may skip the formatter chain

bind = structlog.contextvars.bind_contextvars
reset = structlog.contextvars.reset_contextvars


def _dumps(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is at the time (like logging's last resort)."""

    @property  # over the attribute StreamHandler sets
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def write_json(logger: logging.Logger, event: str, fields: dict[str, Any]) -> bool:
    """The line ``logger.info(event, extra=fields)`` would write in JSON, written at once
    (no LogRecord, no processor chain: for a line per request). False when the format is
    console: the caller logs normally."""
    if not _json_lines:
        return False
    if not logger.isEnabledFor(logging.INFO):
        return True  # handled: nothing to write
    line = {
        "event": event,
        "level": "info",
        "logger": logger.name,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **fields,
    }
    sys.stderr.write(orjson.dumps(line, default=str).decode() + "\n")
    return True


def _drop_message(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event.pop("message", None)  # the formatted text again, beside "event"
    return event


def _renderer(settings: Settings) -> Callable[..., Any]:
    if settings.log_format == "json":
        return structlog.processors.JSONRenderer(serializer=_dumps)
    return structlog.dev.ConsoleRenderer(colors=False)


def configure(settings: Settings | None = None, stream: Any = None) -> None:
    """Route every logger to one stderr handler in the configured format (idempotent)."""
    global _json_lines
    settings = settings or get_settings()
    _json_lines = settings.log_format == "json" and stream is None
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(settings),
        ],
    )
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
