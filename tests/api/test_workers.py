"""``natoqa serve --workers 2``: two processes, one server, one set of metrics."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_observability import ask, scrape, value
from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.slow


def test_two_workers_answer_and_report_metrics_together(built_index: Path) -> None:
    proc, url = start_server(built_index, env={
        "NATOQA_WORKERS": "2", "NATOQA_TORCH_THREADS": "1", "NATOQA_RATE_LIMIT": "off",
    })
    log: Path = proc.log_path  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("natoqa started") < 2:
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.5)
        before = scrape(url)
        questions = [f"Welche Aufgaben erbt Rutte ({i})?" for i in range(8)]
        for q in questions:  # a new connection each: the kernel spreads them over both
            assert ask(url, q)["citations"]
        for _ in range(4):  # whichever worker answers the scrape counts both
            after = scrape(url)
            answered = (value(after, "natoqa_answers_total", outcome="answered", cached="false")
                        - value(before, "natoqa_answers_total", outcome="answered",
                                cached="false"))
            abstained = (value(after, "natoqa_answers_total", outcome="abstained", cached="false")
                         - value(before, "natoqa_answers_total", outcome="abstained",
                                 cached="false"))
            assert answered + abstained == len(questions)
            assert value(after, "natoqa_index_passages") > 0
        pids = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
        assert len(pids) == 2
        r = httpx.get(url + "/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "ready"
    finally:
        stop_server(proc)
    assert proc.returncode is not None
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    assert '"natoqa.access"' in text and '"uvicorn.access"' not in text  # one line a request
