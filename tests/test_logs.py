"""Structured logs: one JSON object per line, each with the request id."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from natoqa.logs import JsonFormatter, bind_request_id, configure_logging
from tests.conftest import start_server, stop_server


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """configure_logging into a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("info", as_json=True, stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_are_json_with_request_id_and_extras(log_stream: io.StringIO) -> None:
    token = bind_request_id("req-123")
    try:
        logging.getLogger("natoqa.test").info("answered %d", 3, extra={"status": 200,
                                                                      "path": Path("/x")})
    finally:
        token.var.reset(token)
    logging.getLogger("natoqa.test").warning("outside a request")
    first, second = lines(log_stream)
    assert first["msg"] == "answered 3" and first["level"] == "info"
    assert first["logger"] == "natoqa.test"
    assert first["request_id"] == "req-123"
    assert first["status"] == 200 and first["path"] == "/x"  # extras; odd types as strings
    assert str(first["ts"]).endswith("+00:00")
    assert second["request_id"] == "-"


def test_exceptions_keep_their_traceback(log_stream: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("natoqa.test").exception("failed")
    (entry,) = lines(log_stream)
    assert entry["exc_type"] == "ValueError"
    assert "Traceback" in str(entry["exc"]) and "boom" in str(entry["exc"])


def test_uvicorn_goes_through_the_same_handler_and_faiss_is_quiet(
    log_stream: io.StringIO,
) -> None:
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("faiss.loader").info("Loading faiss with AVX2 support.")
    entries = lines(log_stream)
    assert [e["logger"] for e in entries] == ["uvicorn.error"]


def test_formatter_survives_unserialisable_values() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.weird = object()
    assert json.loads(JsonFormatter().format(record))["weird"].startswith("<object")


@pytest.mark.slow
def test_server_log_is_json_and_carries_the_request_id(built_index: Path) -> None:
    proc, url = start_server(built_index, env={"NATOQA_RATE_LIMIT": "off"})
    request_id = f"logtest-{uuid.uuid4().hex[:8]}"
    try:
        r = httpx.post(url + "/api/v1/ask", json={"question": "Was erbt Rutte?"},
                       headers={"X-Request-ID": request_id}, timeout=60)
        assert r.status_code == 200 and r.headers["x-request-id"] == request_id
    finally:
        stop_server(proc)
    log_path: Path = proc.log_path  # type: ignore[attr-defined]
    text = log_path.read_text()
    entries = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    mine = [e for e in entries if e["request_id"] == request_id]
    access = [e for e in mine if e["logger"] == "natoqa.access"]
    assert len(access) == 1
    assert access[0]["status"] == 200 and access[0]["route"] == "/api/v1/ask"
    assert access[0]["duration_ms"] > 0
    assert any(e["logger"] == "natoqa.api.asking" for e in mine)  # the app's own line too
