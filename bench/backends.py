"""The embedding backends compared: speed on this CPU, and whether retrieval stays as good.

    .venv/bin/python bench/backends.py                      # torch, onnx, onnx-int8
    .venv/bin/python bench/backends.py --backends torch,onnx-int8 --threads 0,1

For each backend (NATOQA_BACKEND) and thread count (NATOQA_TORCH_THREADS, which
also sets ONNX Runtime's intra-op threads):

* speed: one question at a time (p50/p95 ms) and batches of 16 (questions/s);
* fidelity: cosine of its vectors to the torch model's, for questions and passages;
* retrieval, on XQuAD-de (240 German paragraphs, 1,190 questions in German and in
  English; ../shared/benchmarks/xquad_de): recall@1/5/10 and MRR@10 with the
  paragraphs embedded by torch (an index built as today, served by the backend)
  and by the backend itself (an index built with it);
* the development set (eval/devset.jsonl + followups.jsonl) through natoqa's own
  Retriever and evaluation over the bundled corpus indexed with torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
XQUAD = ROOT.parent / "shared" / "benchmarks" / "xquad_de"
sys.path.insert(0, str(ROOT / "bench"))

from service import ensure_index, load_questions, percentiles  # noqa: E402


def embedder_for(backend: str, threads: int) -> Any:
    import torch

    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder

    torch.set_num_threads(threads or os.cpu_count() or 1)  # process-wide: reset each time
    return load_embedder(load_settings(backend=backend, torch_threads=threads))


def speed(embedder: Any, questions: list[str], seconds: float) -> dict[str, Any]:
    for q in questions[:5]:
        embedder.embed(q, kind="query")
    single = []
    for q in questions:
        t0 = time.perf_counter()
        embedder.embed(q, kind="query")
        single.append((time.perf_counter() - t0) * 1000)
    done, started, i = 0, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        embedder.embed_batch([questions[(i + j) % len(questions)] for j in range(16)],
                             kind="query")
        done, i = done + 16, i + 16
    return {"single_ms": percentiles(single), "batch16_qps": done / (time.perf_counter() - started)}


def xquad() -> tuple[list[str], list[str], list[dict[str, Any]]]:
    corpus = [json.loads(line) for line in (XQUAD / "corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (XQUAD / "queries.jsonl").open(encoding="utf-8")]
    return [c["id"] for c in corpus], [c["text"] for c in corpus], queries


def retrieval(passages: np.ndarray, ids: list[str], qvecs: np.ndarray,
              queries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    index = faiss.IndexFlatIP(passages.shape[1])
    index.add(passages)
    _, rows = index.search(qvecs, 10)
    out: dict[str, dict[str, float]] = {}
    for lang in ("de", "en"):
        ranks = []
        for q, row in zip(queries, rows, strict=True):
            if q["lang"] != lang:
                continue
            found = [n for n, r in enumerate(row, start=1) if ids[r] in q["gold_ids"]]
            ranks.append(found[0] if found else None)
        n = len(ranks)
        out[lang] = {f"R@{c}": sum(r is not None and r <= c for r in ranks) / n for c in (1, 5, 10)}
        out[lang]["MRR@10"] = sum(1 / r for r in ranks if r is not None) / n
    return out


def devset(embedder: Any, index_dir: Path) -> dict[str, Any]:
    from natoqa.evaluate import evaluation
    from natoqa.index.store import IndexStore
    from natoqa.retrieve.retriever import Retriever

    questions = evaluation.load_questions([ROOT / "eval" / "devset.jsonl",
                                           ROOT / "eval" / "followups.jsonl"])
    retriever = Retriever(IndexStore(index_dir).load(), embedder)
    report = evaluation.summarise(evaluation.run(retriever, questions))
    groups = {name: {"n": g.n, **{f"R@{c}": r for c, r in g.recall.items()}, "MRR@10": g.mrr}
              for name, g in report.groups.items()}
    return {"groups": groups, "out_of_scope_abstained": report.out_of_scope_abstained,
            "answerable_abstained": report.answerable_abstained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--threads", default="0,1", help="Thread counts to time (0 = default).")
    parser.add_argument("--questions", type=int, default=100, help="Questions timed one by one.")
    parser.add_argument("--seconds", type=float, default=8.0, help="Seconds of batched timing.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    questions = load_questions()[: args.questions]
    ids, texts, queries = xquad()
    qtexts = [q["question"] for q in queries]
    index_dir = ensure_index(None)
    result: dict[str, Any] = {"loadavg_at_start": os.getloadavg(), "backends": {}}
    reference: dict[str, np.ndarray] = {}
    for backend in args.backends.split(","):
        entry: dict[str, Any] = {"speed": {}}
        for threads in (int(t) for t in args.threads.split(",")):
            embedder = embedder_for(backend, threads)
            entry["speed"][f"threads={threads}"] = speed(embedder, questions, args.seconds)
            print(backend, threads, json.dumps(entry["speed"][f"threads={threads}"]), flush=True)
        t0 = time.perf_counter()
        pvecs = embedder.embed_batch(texts, kind="passage")
        qvecs = embedder.embed_batch(qtexts, kind="query")
        entry["xquad_embed_seconds"] = time.perf_counter() - t0
        if backend == "torch":
            reference = {"p": pvecs, "q": qvecs}
        if reference:
            entry["cosine_to_torch"] = {
                "queries": {"mean": float((qvecs * reference["q"]).sum(1).mean()),
                            "min": float((qvecs * reference["q"]).sum(1).min())},
                "passages": {"mean": float((pvecs * reference["p"]).sum(1).mean()),
                             "min": float((pvecs * reference["p"]).sum(1).min())},
            }
            entry["xquad_torch_passages"] = retrieval(reference["p"], ids, qvecs, queries)
        entry["xquad_own_passages"] = retrieval(pvecs, ids, qvecs, queries)
        entry["devset"] = devset(embedder, index_dir)
        result["backends"][backend] = entry
        print(backend, json.dumps({k: v for k, v in entry.items() if k != "speed"}), flush=True)
        del embedder
    result["loadavg_at_end"] = os.getloadavg()
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def table(result: dict[str, Any]) -> str:
    lines = ["", "| backend | threads | 1 question p50 ms | p95 ms | batch-16 q/s |",
             "|---|---|---|---|---|"]
    for name, e in result["backends"].items():
        for threads, s in e["speed"].items():
            lines.append(f"| {name} | {threads.split('=')[1]} | {s['single_ms']['p50']:.1f} | "
                         f"{s['single_ms']['p95']:.1f} | {s['batch16_qps']:.1f} |")
    lines += ["", "| backend | cos q (mean/min) | XQuAD de R@1 / MRR@10 (torch idx) | "
              "en R@1 / MRR@10 (torch idx) | de / en MRR@10 (own idx) | dev all R@1 / R@5 / MRR |",
              "|---|---|---|---|---|---|"]
    for name, e in result["backends"].items():
        cos = e.get("cosine_to_torch", {}).get("queries", {"mean": 1.0, "min": 1.0})
        xt, xo = e.get("xquad_torch_passages", e["xquad_own_passages"]), e["xquad_own_passages"]
        dev = e["devset"]["groups"].get("all", {})
        lines.append(
            f"| {name} | {cos['mean']:.4f} / {cos['min']:.4f} | "
            f"{xt['de']['R@1']:.3f} / {xt['de']['MRR@10']:.3f} | "
            f"{xt['en']['R@1']:.3f} / {xt['en']['MRR@10']:.3f} | "
            f"{xo['de']['MRR@10']:.3f} / {xo['en']['MRR@10']:.3f} | "
            f"{dev.get('R@1', 0):.3f} / {dev.get('R@5', 0):.3f} / {dev.get('MRR@10', 0):.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
