"""Servers reading the index from PostgreSQL (NATOQA_STORE): two ``natoqa serve`` processes
on the hot standby follow builds on the primary by themselves, without a failed request;
a database that goes away makes them unready and answer 503 with Retry-After, and they
answer again by themselves when it is back. Real PostgreSQL, real model, real uvicorn."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from natoqa.embed.base import Embedder
from tests.conftest import BundledInPostgres, start_server, stop_server
from tests.engines.postgres import PostgresCluster

pytestmark = pytest.mark.slow

QUESTION = {"question": "Was erbt Rutte von Stoltenberg?", "k": 3}
NEWS = ("Die Allianz übt im Baltikum mit neuen Brigaden. Litauen stellt Kasernen, Deutschland "
        "schickt Panzer und Soldaten, und die Luftverteidigung wird mit Flugabwehrsystemen "
        "verstärkt. Der Bündnisfall gilt als unwahrscheinlich, doch Abschreckung braucht "
        "sichtbare Präsenz an der Ostflanke, sagen die Planer in Brüssel und Vilnius, die "
        "bis zum Gipfel im Sommer einen gemeinsamen Plan vorlegen wollen. Runde {n}.\n")
#: how soon a replica must answer from a version after its commit on the primary
SWITCH_SECONDS = 5.0


def served_version(url: str) -> str | None:
    body = httpx.get(url + "/readyz", timeout=5).json()
    index = body.get("index") or {}
    version = index.get("version")
    return str(version) if version else None


@pytest.fixture
def replicas(pg_bundled: BundledInPostgres, pg_cluster: PostgresCluster,
             tmp_path: Path) -> Iterator[list[str]]:
    """Two servers reading the bundled corpus's schema on the standby."""
    pg_cluster.primary.ensure_running()
    pg_cluster.standby.ensure_running()
    pg_cluster.wait_for_replay()
    # no answer cache: every question is retrieved from the database
    env = {**pg_bundled.env(pg_cluster.standby.dsn), "NATOQA_RATE_LIMIT": "off",
           "NATOQA_RELOAD_INTERVAL": "0.5", "NATOQA_CACHE_SIZE": "0"}
    started = []
    try:
        for _ in range(2):
            started.append(start_server(tmp_path / "unused-index", env=env))
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            stop_server(proc)


def test_two_replicas_on_the_standby_follow_five_builds_without_a_failed_request(
    replicas: list[str], pg_bundled: BundledInPostgres, pg_cluster: PostgresCluster,
    embedder: Embedder, tmp_path: Path,
) -> None:
    from natoqa.index.postgres import PostgresStore
    from natoqa.index.postgres_build import build_postgres

    store = PostgresStore(pg_cluster.primary.dsn, schema=pg_bundled.schema)
    corpus = tmp_path / "corpus"
    shutil.copytree(pg_bundled.corpus, corpus)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def ask_in_a_loop(url: str) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                response = client.post(url + "/api/v1/ask", json=QUESTION)
                if response.status_code != 200 or not response.json()["citations"]:
                    failures.append(f"{url}: {response.status_code} {response.text[:200]}")
                answered[0] += 1

    loops = [threading.Thread(target=ask_in_a_loop, args=(url,)) for url in replicas]
    for loop in loops:
        loop.start()
    delays: list[float] = []
    try:
        for n in range(5):
            (corpus / f"runde-{n}.txt").write_text(NEWS.format(n=n), encoding="utf-8")
            report = build_postgres(corpus, store, embedder, keep_versions=50)
            committed = time.monotonic()  # build_postgres returns after its commit
            assert report.switched and report.added == [f"runde-{n}.txt"]
            waiting = set(replicas)
            while waiting and time.monotonic() - committed < 30:
                waiting = {url for url in waiting if served_version(url) != report.version}
                time.sleep(0.05)
            assert not waiting, f"still not on {report.version} after 30 s: {waiting}"
            delays.append(time.monotonic() - committed)
    finally:
        stop.set()
        for loop in loops:
            loop.join(timeout=60)
    assert not failures, failures[:5]
    assert answered[0] > 10
    assert max(delays) <= SWITCH_SECONDS, delays
    print(f"switch after commit, both replicas, s: {[round(d, 2) for d in delays]}; "
          f"{answered[0]} questions answered, {len(failures)} failed")
    # what they answer from is the new version, and its new document is searchable
    hit = httpx.post(replicas[0] + "/api/v1/ask", timeout=30,
                     json={"question": "Wer stellt im Baltikum Kasernen?", "k": 3}).json()
    assert hit["citations"] and hit["citations"][0]["doc_id"].startswith("runde-")


def test_a_database_that_goes_away_makes_the_replica_unready_and_it_recovers(
    replicas: list[str], pg_cluster: PostgresCluster,
) -> None:
    url = replicas[0]
    assert httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30).status_code == 200
    # the primary stopped (between builds): replicas on the standby do not notice
    pg_cluster.primary.stop(mode="immediate")
    try:
        for _ in range(5):
            assert httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30).status_code == 200
            time.sleep(0.3)
        assert httpx.get(url + "/readyz", timeout=5).status_code == 200
    finally:
        pg_cluster.primary.ensure_running()
    # the database it reads stopped
    pg_cluster.standby.stop(mode="immediate")
    try:
        deadline = time.monotonic() + 10
        while httpx.get(url + "/readyz", timeout=5).status_code == 200:
            assert time.monotonic() < deadline, "still ready 10 s after its database stopped"
            time.sleep(0.1)
        ready = httpx.get(url + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "not-ready"
        assert "cannot be reached" in ready.json()["index"]["store_unreachable"]
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200  # alive: no restart
        refused = httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30)
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) > 0
        assert refused.json()["type"].endswith("/store-unavailable")
        assert "127.0.0.1" not in refused.text  # the database's address is not the caller's
    finally:
        pg_cluster.standby.ensure_running()
    deadline = time.monotonic() + 15
    while True:
        response = httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30)
        if response.status_code == 200:
            break
        assert time.monotonic() < deadline, f"not answering 15 s after the database came back: " \
                                            f"{response.status_code} {response.text[:200]}"
        time.sleep(0.2)
    assert response.json()["citations"]
    assert httpx.get(url + "/readyz", timeout=5).status_code == 200


def test_a_replica_started_while_its_database_is_down_waits_for_it(
    pg_bundled: BundledInPostgres, pg_cluster: PostgresCluster, tmp_path: Path,
) -> None:
    """It starts (alive, not ready, questions 503), loads the current version by itself
    once the database is up, and keeps its admin document routes closed (401 before the
    409 that says documents change on the primary)."""
    env = {**pg_bundled.env(pg_cluster.standby.dsn), "NATOQA_RATE_LIMIT": "off",
           "NATOQA_RELOAD_INTERVAL": "0.5", "NATOQA_ADMIN_TOKEN": "t0ken"}
    pg_cluster.standby.stop(mode="immediate")
    try:
        proc, url = start_server(tmp_path / "unused-index", env=env)  # waits for /healthz
        try:
            assert httpx.get(url + "/healthz", timeout=5).status_code == 200  # no restart
            ready = httpx.get(url + "/readyz", timeout=5)
            assert ready.status_code == 503
            assert "cannot be reached" in ready.json()["index"]["store_unreachable"]
            refused = httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30)
            assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
            assert refused.json()["type"].endswith("/store-unavailable")
        except BaseException:
            stop_server(proc)
            raise
    finally:
        pg_cluster.standby.ensure_running()
    try:
        pg_cluster.wait_for_replay()
        deadline = time.monotonic() + 15
        # ready, and up to date: the status reads the store's current version itself,
        # and may not reach a standby that is still coming up (on a loaded machine)
        while not ((ready := httpx.get(url + "/readyz", timeout=5)).status_code == 200
                   and ready.json()["index"]["up_to_date"]):
            assert time.monotonic() < deadline, f"not ready and up to date 15 s after its " \
                                                f"database came back: {ready.text[:500]}"
            time.sleep(0.2)
        answer = httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30)
        assert answer.status_code == 200 and answer.json()["citations"]
        documents = url + "/api/v1/admin/documents"
        assert httpx.get(documents, timeout=5).status_code == 401
        assert httpx.get(documents, timeout=5,
                         headers={"Authorization": "Bearer wrong"}).status_code == 403
        refused = httpx.get(documents, timeout=5, headers={"Authorization": "Bearer t0ken"})
        assert refused.status_code == 409 and "primary" in refused.json()["detail"]
    finally:
        stop_server(proc)
    log = proc.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    assert "not ready until it is reachable" in log
    assert "Traceback" not in log


def test_a_lagging_standby_serves_the_version_it_has_until_it_catches_up(
    replicas: list[str], pg_bundled: BundledInPostgres, pg_cluster: PostgresCluster,
    embedder: Embedder, tmp_path: Path,
) -> None:
    from natoqa.index.postgres import PostgresStore
    from natoqa.index.postgres_build import build_postgres

    url = replicas[0]
    before = served_version(url)
    corpus = tmp_path / "corpus"
    shutil.copytree(pg_bundled.corpus, corpus)
    (corpus / "verspaetet.txt").write_text(NEWS.format(n="spät"), encoding="utf-8")
    with pg_cluster.standby.connect() as standby:
        standby.execute("SELECT pg_wal_replay_pause()")  # the standby falls behind
        try:
            report = build_postgres(
                corpus, PostgresStore(pg_cluster.primary.dsn, schema=pg_bundled.schema),
                embedder, keep_versions=50)
            assert report.switched
            for _ in range(10):  # committed on the primary, not yet on the standby
                assert served_version(url) == before
                assert httpx.post(url + "/api/v1/ask", json=QUESTION, timeout=30
                                  ).status_code == 200
                time.sleep(0.3)
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + SWITCH_SECONDS
    while served_version(url) != report.version:
        assert time.monotonic() < deadline, "not switched 5 s after the standby caught up"
        time.sleep(0.05)
