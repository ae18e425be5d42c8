"""Switching a running service to a new index version: in-process and on a real server."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from natoqa.embed.base import Embedder
from natoqa.index.builder import build_index
from natoqa.index.segments import PASSAGES
from natoqa.index.store import IndexStore
from natoqa.service.service import QAService
from tests.conftest import start_server, stop_server
from tests.fakes import Gated

pytestmark = pytest.mark.slow

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEWS = "002_7ab4b17f7a80dd35.txt"  # the short news article of the bundled corpus


def corrupt_copy_of_current(index: Path) -> str:
    """A new version whose passages do not match their checksum, made current by hand
    (as a disk fault or a careless copy would): what a service must refuse."""
    store = IndexStore(index)
    loaded = store.load()
    records = list(loaded.documents.values())
    from natoqa.index.store import Manifest, new_version_name

    version = new_version_name()
    m = loaded.manifest
    store.write(
        passages=loaded.passages,
        vectors=loaded.vectors,
        documents=records,
        manifest=Manifest(version, m.model_id, m.dim, len(loaded), m.documents,
                          m.passage_settings, m.created),
    )
    segment = store.manifest(version).segments[0]["name"]
    with (store.versions_dir / version / "segments" / segment / PASSAGES).open(
            "a", encoding="utf-8") as fh:
        fh.write("\n")  # one byte more: fails its checksum
    store.activate(version)
    return version


def edit_news(corpus: Path, n: int) -> None:
    path = corpus / NEWS
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(text + f"\n\nNachtrag {n}: Die Allianz tagt erneut.\n", encoding="utf-8")


# --- the service, in process ------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path, corpus_copy: Path, built_index: Path) -> tuple[Path, Path]:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(corpus_copy, corpus)
    shutil.copytree(built_index, index)
    return corpus, index


def test_reload_switches_and_status_says_so(
    workspace: tuple[Path, Path], embedder: Embedder
) -> None:
    corpus, index = workspace
    service = QAService(embedder, IndexStore(index))
    service.load()
    old = service.status()
    assert old["ready"] and old["up_to_date"] and old["reloads"] == 0
    assert service.reload().switched is False  # nothing new on disk
    edit_news(corpus, 1)
    report = build_index(corpus, index, embedder)
    assert service.status()["up_to_date"] is False
    result = service.reload()
    assert result.switched and result.version == report.version
    assert result.previous_version == old["version"]
    status = service.status()
    assert status["version"] == status["current_on_disk"] == report.version
    assert status["reloads"] == 1 and status["last_reload_error"] is None


def test_a_corrupt_version_is_refused_and_the_service_keeps_answering(
    workspace: tuple[Path, Path], embedder: Embedder
) -> None:
    corpus, index = workspace
    service = QAService(embedder, IndexStore(index))
    service.load()
    good = service.status()["version"]
    bad = corrupt_copy_of_current(index)
    result = service.reload()
    assert not result.switched and result.version == good and result.target == bad
    assert result.error and "fails its checksum" in result.error
    status = service.status()
    assert status["version"] == good and status["refused_version"] == bad
    assert bad in status["last_reload_error"] and status["up_to_date"] is False
    answer = service.ask("Wer übernimmt das Amt des NATO-Generalsekretärs?")
    assert answer.citations  # still answering from the good version
    assert service.reload().error == result.error  # not retried on every poll …
    assert service.reload(force=True).error  # … unless asked to
    edit_news(corpus, 2)
    fixed = build_index(corpus, index, embedder)  # the builder rebuilds from scratch
    assert service.reload().switched
    assert service.status()["last_reload_error"] is None
    assert service.status()["version"] == fixed.version


def test_a_version_of_another_model_is_refused(
    workspace: tuple[Path, Path], embedder: Embedder
) -> None:
    _, index = workspace
    service = QAService(embedder, IndexStore(index))
    service.load()
    store = IndexStore(index)
    manifest_path = store.versions_dir / store.current() / "manifest.json"  # type: ignore[operator]
    import json

    other = json.loads(manifest_path.read_text())
    other["model_id"], other["version"] = "some-other-model", "20990101T000000000000Z-000000"
    target = store.versions_dir / other["version"]
    shutil.copytree(manifest_path.parent, target)
    (target / "manifest.json").write_text(json.dumps(other))
    store.activate(other["version"])
    result = service.reload()
    assert not result.switched and result.error and "some-other-model" in result.error


def test_a_request_running_during_the_switch_finishes_on_the_old_version(
    workspace: tuple[Path, Path], embedder: Embedder
) -> None:
    corpus, index = workspace
    gated = Gated(embedder)
    service = QAService(gated, IndexStore(index))
    service.load()
    old_version = service.status()["version"]
    question = "Wer übernimmt das Amt des NATO-Generalsekretärs von Jens Stoltenberg?"
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(service.ask(question)))
    worker.start()
    assert gated.entered.wait(30)  # the request is inside retrieval on the old engine
    (corpus / NEWS).unlink()  # the article it needs disappears from the new version
    build_index(corpus, index, embedder)
    assert service.reload().switched
    shutil.rmtree(IndexStore(index).versions_dir / old_version)  # pruned under the request
    gated.gate.set()
    worker.join(60)
    (old_answer,) = answers
    assert NEWS in {c.hit.passage.doc_id for c in old_answer.citations}  # type: ignore[attr-defined]
    new_answer = service.ask(question)
    assert NEWS not in {c.hit.passage.doc_id for c in new_answer.citations}


def test_a_loaded_version_survives_its_folder_being_pruned(
    workspace: tuple[Path, Path], embedder: Embedder
) -> None:
    _, index = workspace
    service = QAService(embedder, IndexStore(index))
    service.load()
    shutil.rmtree(IndexStore(index).versions_dir / service.status()["version"])
    answer = service.ask("Wer übernimmt das Amt des NATO-Generalsekretärs?")
    assert answer.citations and not answer.no_answer


# --- a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, corpus_copy: Path, built_index: Path
) -> Iterator[tuple[str, Path, Path]]:
    """A real ``natoqa serve`` checking CURRENT every 0.2 s, with an admin token and no
    rate limit."""
    root = tmp_path_factory.mktemp("live")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(corpus_copy, corpus)
    shutil.copytree(built_index, index)
    env = {"NATOQA_RELOAD_INTERVAL": "0.2", "NATOQA_ADMIN_TOKEN": TOKEN,
           "NATOQA_RATE_LIMIT": "off"}  # the test polls status 20 times a second
    proc, url = start_server(index, env)
    try:
        yield url, corpus, index
    finally:
        stop_server(proc)


def status(url: str) -> dict[str, Any]:
    r = httpx.get(url + "/api/v1/admin/status", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_for(url: str, key: str, value: object, timeout: float = 10.0) -> float:
    """Seconds until the server's status has ``key == value``."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if status(url)[key] == value:
            return time.monotonic() - t
        time.sleep(0.05)
    raise AssertionError(f"status {key} did not become {value!r}: {status(url)}")


def test_admin_endpoints_need_the_token(live: tuple[str, Path, Path], server_url: str) -> None:
    url = live[0]
    missing = httpx.post(url + "/api/v1/admin/reload", timeout=10)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "admin token missing" in missing.json()["detail"]
    wrong = httpx.post(url + "/api/v1/admin/reload", headers={"Authorization": "Bearer nope"},
                       timeout=10)
    assert wrong.status_code == 403 and wrong.json()["detail"] == "the admin token is wrong"
    basic = httpx.get(url + "/api/v1/admin/status", auth=("admin", TOKEN), timeout=10)
    assert basic.status_code == 401
    # the shared server runs without NATOQA_ADMIN_TOKEN: admin is off, and says how to enable
    off = httpx.post(server_url + "/api/v1/admin/reload", headers=AUTH, timeout=10)
    assert off.status_code == 403 and "NATOQA_ADMIN_TOKEN" in off.json()["detail"]


def test_the_server_switches_by_itself_within_seconds(
    live: tuple[str, Path, Path], embedder: Embedder
) -> None:
    url, corpus, index = live
    edit_news(corpus, 10)
    report = build_index(corpus, index, embedder)
    assert wait_for(url, "version", report.version, timeout=5) < 5
    assert status(url)["up_to_date"] is True


def test_admin_reload_switches_at_once(live: tuple[str, Path, Path], embedder: Embedder) -> None:
    url, corpus, index = live
    before = status(url)["version"]
    edit_news(corpus, 11)
    report = build_index(corpus, index, embedder)
    r = httpx.post(url + "/api/v1/admin/reload", headers=AUTH, timeout=30)
    assert r.status_code == 200
    body = r.json()
    # either this call switched, or the background poll got there first
    assert body["version"] == report.version and body["error"] is None
    assert body["switched"] or status(url)["reloads"] >= 1
    assert body["status"]["version"] == report.version
    assert before != report.version


def test_a_running_server_refuses_a_corrupt_version_and_keeps_answering(
    live: tuple[str, Path, Path], embedder: Embedder
) -> None:
    url, corpus, index = live
    good = status(url)["version"]
    bad = corrupt_copy_of_current(index)
    wait_for(url, "refused_version", bad, timeout=5)
    s = status(url)
    assert s["version"] == good and "fails its checksum" in str(s["last_reload_error"])
    ask = httpx.post(url + "/api/v1/ask", json={"question": "Wer ist Mark Rutte?"}, timeout=60)
    assert ask.status_code == 200 and ask.json()["citations"]
    forced = httpx.post(url + "/api/v1/admin/reload", headers=AUTH, timeout=30).json()
    assert forced["switched"] is False and forced["version"] == good
    assert "fails its checksum" in forced["error"]
    edit_news(corpus, 12)
    fixed = build_index(corpus, index, embedder)
    wait_for(url, "version", fixed.version, timeout=5)
    assert status(url)["last_reload_error"] is None


def test_live_switches_under_load_fail_no_request(
    live: tuple[str, Path, Path], embedder: Embedder
) -> None:
    url, corpus, index = live
    stop = threading.Event()
    failures: list[str] = []
    versions_seen: set[str] = set()
    counts = {"requests": 0}
    questions = ["Wer übernimmt das Amt des NATO-Generalsekretärs?",
                 "Wie viele Menschen arbeiten im Internationalen Sekretariat?",
                 "What is the New Force Model?"]

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 3 == 0:
                        r = http.get("/api/v1/documents")
                        if r.status_code == 200:
                            versions_seen.add(r.json()["version"])
                    else:
                        body = {"question": questions[(n + i) % 3], "stream": i % 4 == 1}
                        r = http.post("/api/v1/ask", json=body)
                        if body["stream"] and "event: done" not in r.text:
                            failures.append(f"stream without done: {r.text[-200:]}")
                    counts["requests"] += 1
                    if r.status_code != 200:
                        failures.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    built = []
    try:
        for cycle in range(3):
            edit_news(corpus, 100 + cycle)
            report = build_index(corpus, index, embedder)
            wait_for(url, "version", report.version, timeout=10)
            built.append(report.version)
            time.sleep(0.5)  # let requests run on the new version too
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert failures == []
    assert counts["requests"] > 10
    assert set(built) <= versions_seen  # answers really came from each new version
