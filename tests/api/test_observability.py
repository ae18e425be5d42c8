"""/healthz, /readyz and /metrics on the real server (real model, real index)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, parsed by prometheus-client's own parser."""
    r = httpx.get(url + "/metrics", timeout=60)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def ask(url: str, question: str) -> dict[str, object]:
    r = httpx.post(url + "/api/v1/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_readyz_names_model_and_index(server_url: str, built_index: Path) -> None:
    from natoqa.index.store import IndexStore

    manifest = IndexStore(built_index).manifest()
    assert httpx.get(server_url + "/healthz", timeout=60).status_code == 200
    r = httpx.get(server_url + "/readyz", timeout=60)
    assert r.status_code == 200
    ready = r.json()
    assert ready["status"] == "ready"
    assert ready["model"] == {"id": manifest.model_id, "dim": 384, "backend": "onnx"}
    assert ready["index"]["version"] == manifest.version
    assert ready["index"]["passages"] == manifest.passage_count
    assert ready["index"]["documents"] == len(manifest.documents)


def test_metrics_count_requests_timings_cache_and_index(server_url: str) -> None:
    before = scrape(server_url)
    question = f"Was erbt Rutte von Stoltenberg? {uuid.uuid4().hex[:8]}"
    first = ask(server_url, question)
    again = ask(server_url, question)  # identical: served by the cache
    assert again["answer"] == first["answer"]
    assert again["citations"] == first["citations"]
    after = scrape(server_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"route": "/api/v1/ask", "method": "POST", "status": "200"}
    assert delta("natoqa_http_requests_total", **ok) == 2
    assert delta("natoqa_http_request_duration_seconds_count",
                 route="/api/v1/ask", method="POST") == 2
    # the model and FAISS ran once: the repeat came from the cache
    assert delta("natoqa_embed_seconds_count") == 1
    assert delta("natoqa_search_seconds_count") == 1
    assert delta("natoqa_embed_seconds_sum") > 0
    assert delta("natoqa_answers_total", outcome="answered", cached="false") == 1
    assert delta("natoqa_answers_total", outcome="answered", cached="true") == 1
    assert value(after, "natoqa_answer_cache_entries") >= 1

    ready = httpx.get(server_url + "/readyz", timeout=60).json()
    version, passages = ready["index"]["version"], ready["index"]["passages"]
    assert value(after, "natoqa_index_info", version=version, model=ready["model"]["id"]) == 1
    assert value(after, "natoqa_index_passages") == passages
    assert value(after, "natoqa_index_documents") == ready["index"]["documents"]
    assert value(after, "process_resident_memory_bytes") > 50e6  # the model alone is more


def test_abstentions_and_unknown_routes_are_counted(server_url: str) -> None:
    before = scrape(server_url)
    # fixed wording (a random suffix can make it look relevant); may come from the cache
    answer = ask(server_url, "Wie backe ich einen Apfelkuchen mit Zimt?")
    assert answer["no_answer"] is True
    missing = httpx.get(server_url + f"/no/such/{uuid.uuid4().hex}", timeout=60)
    assert missing.status_code == 404
    after = scrape(server_url)
    assert value(after, "natoqa_abstentions_total") - value(before, "natoqa_abstentions_total") == 1
    assert sum(value(after, "natoqa_answers_total", outcome="abstained", cached=c)
               - value(before, "natoqa_answers_total", outcome="abstained", cached=c)
               for c in ("true", "false")) == 1
    # a scanner's random paths share one series instead of creating one each
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert (value(after, "natoqa_http_requests_total", **unmatched)
            - value(before, "natoqa_http_requests_total", **unmatched)) == 1
    assert not any("/no/such/" in dict(labels).get("route", "") for _, labels in after)
