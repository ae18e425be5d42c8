"""Logging for the server: one JSON object per line, each carrying the request id.

``configure_logging`` replaces the root handlers with one on stderr, formatted
by :class:`JsonFormatter` (or a plain text line when JSON is off), and makes
every record carry ``request_id`` (set per request by :mod:`natoqa.api.middleware`). Values a
caller passes as ``extra={...}`` become fields of the JSON object, so an access
log line reads ``{"msg": "request", "method": "POST", "status": 200, ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

#: attributes every LogRecord has; anything else on a record came from ``extra``
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "taskName"}
)

_request_id: ContextVar[str | None] = ContextVar("natoqa_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, None outside a request."""
    return _request_id.get()


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the current one; ``token.var.reset(token)`` undoes it."""
    return _request_id.set(request_id)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or "-",
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an odd extra (a Path, an exception) must never lose the log line
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "info", *, as_json: bool = True, stream: TextIO | None = None
) -> None:
    """Send all logs (natoqa's, uvicorn's, libraries') to ``stream`` (stderr) in one format."""
    install_log_record_factory()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers keep their own handlers unless told otherwise; route them to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # faiss announces each CPU feature it probes at INFO: noise in an operator's log
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    # transformers draws a tqdm bar on stderr while loading weights: not a log line
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


_factory_installed = False


def install_log_record_factory() -> None:
    """Give every log record a ``request_id`` attribute (idempotent).

    A record factory rather than a filter: filters attach to one logger or
    handler, while this reaches uvicorn's and every library's records too, so
    a JSON formatter or ``%(request_id)s`` in a format string always finds it.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
