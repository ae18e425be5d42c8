"""How soon a study uploaded over HTTP is answerable through /api/v1/ask.

Starts a real ``natoqa serve`` on copies of the bundled corpus and an index of it
(``--index`` to copy one already built, else one is built first), then:

1. a first upload, which also loads the build's copy of the model ("cold");
2. ``--runs`` uploads of new studies (PDFs made with fpdf2, each with a fact nothing
   else states): from the PUT until the question about the fact is answered with
   it, polling /api/v1/ask every 0.1 s, beside the build's own figures;
3. 10 uploads sent within one second: how many builds, and until all are indexed.

Prints one line per upload and a JSON summary.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/upload.py --workdir /tmp/natoqa-upload
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from serving import start_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.studies import study_pdf  # noqa: E402  (the tests' PDF maker)

TOKEN = "bench-documents-token-0123456789"


def study(n: int) -> tuple[bytes, str, str]:
    """A study whose one fact is ``n``-specific: (pdf, question, the fact's word)."""
    stations = 100 + n * 7
    text = (
        f"Das Radarnetz Nordkap-{n} der Allianz soll bis 2030 aus {stations} Stationen "
        "bestehen, die ihre Daten an ein gemeinsames Lagezentrum melden.",
        "Die Kosten teilen sich die Anrainerstaaten nach ihrer Wirtschaftskraft; der Betrieb "
        "wird gemeinsam getragen und jedes Jahr überprüft.",
    )
    return (study_pdf(f"Radarnetz Nordkap-{n}", text),
            f"Aus wie vielen Stationen soll das Radarnetz Nordkap-{n} bestehen?", str(stations))


def seconds_between(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return round((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds(), 3)


def upload_and_ask(url: str, n: int) -> dict[str, Any]:
    pdf, question, word = study(n)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/pdf"}
    started = time.perf_counter()
    response = httpx.put(f"{url}/api/v1/admin/documents/nordkap-{n}", content=pdf,
                         params={"title": f"Radarnetz Nordkap-{n}"}, headers=headers,
                         timeout=120)
    accepted = time.perf_counter() - started
    response.raise_for_status()
    build_id = response.json()["build_id"]
    while True:
        answer = httpx.post(f"{url}/api/v1/ask", json={"question": question, "k": 3},
                            timeout=120).json()
        # with the fact, quoted from the upload (a large corpus may hold the number elsewhere)
        if word in answer["answer"] and any(
                c["doc_id"].startswith(f"nordkap-{n}.") and c["used"] and word in c["quote"]
                for c in answer["citations"]):
            break
        if time.perf_counter() - started > 900:
            raise SystemExit(f"upload {n} not answerable after 900 s")
        time.sleep(0.1)
    answerable = time.perf_counter() - started
    build = httpx.get(f"{url}/api/v1/admin/builds/{build_id}", headers=headers, timeout=30).json()
    return {
        "upload": n,
        "accepted_s": round(accepted, 3),
        "answerable_s": round(answerable, 3),
        "queued_s": seconds_between(build["requested_at"], build["started_at"]),
        "build_s": seconds_between(build["started_at"], build["finished_at"]),
        "builder_report_s": build["report"]["seconds"],
        "embedded": build["report"]["passages_embedded"],
    }


def burst(url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}
    started = time.perf_counter()

    def put(i: int) -> str:
        text = f"Meldung {i}: Die Übung Schwarm {i} fand im Lager {i * 11} statt. " * 20
        response = httpx.put(f"{url}/api/v1/admin/documents/schwarm-{i}", content=text.encode(),
                             headers=headers, timeout=120)
        response.raise_for_status()
        return str(response.json()["build_id"])

    with ThreadPoolExecutor(10) as pool:
        build_ids = list(pool.map(put, range(10)))
    sent = time.perf_counter() - started
    builds = []
    for build_id in sorted(set(build_ids)):
        while (b := httpx.get(f"{url}/api/v1/admin/builds/{build_id}", headers=headers,
                              timeout=30).json())["state"] not in ("succeeded", "failed"):
            time.sleep(0.2)
        builds.append(b)
    return {
        "accepted_within_s": round(sent, 3),
        "builds": len(builds),
        "all_indexed_s": round(time.perf_counter() - started, 3),
        "added": sum(len(b["report"]["added"]) for b in builds if b["report"]),
        "failed": sum(b["state"] == "failed" for b in builds),
    }


def _link_or_copy(source: str, target: str) -> None:
    import os

    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/natoqa-upload"))
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus",
                        help="the corpus to start from (copied; default: the bundled one), e.g. "
                        "a corpus of bench/scale.py")
    parser.add_argument("--index", type=Path, help="an index of that corpus to copy")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reload-interval", default="1")
    args = parser.parse_args()
    work: Path = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus, index = work / "corpus", work / "index"
    shutil.copytree(args.corpus, corpus)
    if args.index:  # hard links where it can: the server's builds never change a file
        shutil.copytree(args.index, index, ignore=shutil.ignore_patterns(".build.lock"),
                        copy_function=_link_or_copy)
    else:
        subprocess.run([sys.executable, "-m", "natoqa", "build", "--corpus", str(corpus),
                        "--index", str(index)], check=True)
    proc, url = start_server(index, work / "server.log", {
        "NATOQA_DOCUMENTS_TOKENS": f"bench:{TOKEN}", "NATOQA_CORPUS_DIR": str(corpus),
        "NATOQA_RATE_LIMIT": "off", "NATOQA_CACHE_SIZE": "0",
        "NATOQA_RELOAD_INTERVAL": args.reload_interval,
    })
    passages = httpx.get(f"{url}/readyz", timeout=30).json()["index"].get("passages")
    try:
        cold = upload_and_ask(url, 0)
        print(json.dumps({"cold": cold}), flush=True)
        warm = []
        for n in range(1, args.runs + 1):
            warm.append(upload_and_ask(url, n))
            print(json.dumps(warm[-1]), flush=True)
        ten = burst(url)
        print(json.dumps({"burst": ten}), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)

    def median(key: str) -> float:
        return round(statistics.median(float(r[key]) for r in warm), 3)

    print(json.dumps({
        "corpus": f"{args.corpus} ({passages} passages) + the uploads",
        "cold_answerable_s": cold["answerable_s"],
        "median_accepted_s": median("accepted_s"),
        "median_queued_s": median("queued_s"),
        "median_build_s": median("build_s"),
        "median_builder_report_s": median("builder_report_s"),
        "median_answerable_s": median("answerable_s"),
        "max_answerable_s": max(r["answerable_s"] for r in warm),
        "burst": ten,
    }, indent=2))


if __name__ == "__main__":
    main()
