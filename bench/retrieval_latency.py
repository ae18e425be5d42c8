"""Retrieval latency per question: query encoding + scoring, as the service runs it.

Loads the real model and an index, warms up, then times ``Retriever.search``
over the development questions (single questions and follow-ups, which embed
two texts). Prints percentiles of the total and of its two parts, and the
conditions (cores, torch threads, load average) because the machine is shared.

    .venv/bin/python bench/retrieval_latency.py --index index/
    NATOQA_TORCH_THREADS=1 .venv/bin/python bench/retrieval_latency.py --index index/ --json
    # where a large version's scoring time goes (mean ms per question and stage)
    .venv/bin/python bench/retrieval_latency.py --index /tmp/natoqa-scale/index-100000-synthetic \
        --stages
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time Retriever.search per question.")
    parser.add_argument("--index", type=Path, default=ROOT / "index", help="Index folder.")
    parser.add_argument(
        "--questions", type=Path, nargs="+",
        default=[ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl"],
    )
    parser.add_argument("--repeat", type=int, default=2, help="Passes over the questions.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument("--stages", action="store_true",
                        help="Also time the stages of scoring (mean ms per question).")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder
    from natoqa.evaluate.evaluation import load_questions, percentiles
    from natoqa.index.store import IndexStore
    from natoqa.retrieve.retriever import Retriever

    settings = load_settings()
    questions = load_questions(args.questions)
    embedder = load_embedder(settings)
    index = IndexStore(args.index).load(expect_dim=embedder.dim)
    retriever = Retriever(index, embedder, settings.retrieval)
    stages = timed_stages(retriever) if args.stages else None
    for q in questions[:5]:  # warm-up: torch's lazy set-up, caches
        retriever.search(q.question, q.history)
    if stages is not None:
        stages.clear()

    load_before = os.getloadavg()
    total: list[float] = []
    embed: list[float] = []
    search: list[float] = []
    followup: list[float] = []
    for _ in range(args.repeat):
        for q in questions:
            t0 = time.perf_counter()
            result = retriever.search(q.question, q.history, 5)
            ms = (time.perf_counter() - t0) * 1000
            total.append(ms)
            embed.append(result.timings["embed_ms"])
            search.append(result.timings["search_ms"])
            if q.history:
                followup.append(ms)
    figures: dict[str, Any] = {
        "questions": len(total),
        "passages": len(index),
        "sentence_units": retriever.corpus.unit_count,
        "total_ms": percentiles(total),
        "embed_ms": percentiles(embed),
        "search_ms": percentiles(search),
        "followup_total_ms": percentiles(followup) if followup else {},
        "stages_mean_ms": {name: round(seconds * 1000 / len(total), 2)
                           for name, seconds in (stages or {}).items()},
        "conditions": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "backend": settings.backend,
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        c = figures["conditions"]
        print(f"{figures['questions']} searches over {figures['passages']} passages "
              f"({figures['sentence_units']} sentence units); {c['cpus']} cpus, "
              f"torch threads {c['torch_threads']}, load average {c['loadavg_before'][0]} "
              f"-> {c['loadavg_after'][0]}")
        for name in ("total_ms", "embed_ms", "search_ms", "followup_total_ms"):
            p = figures[name]
            if p:
                print(f"  {name:<18} p50 {p['p50']:7.2f}  p90 {p['p90']:7.2f}  "
                      f"p99 {p['p99']:7.2f}  mean {p['mean']:7.2f}")
        for name, ms in figures["stages_mean_ms"].items():
            print(f"  stage {name:<28} mean {ms:7.2f}")
    return 0


def timed_stages(retriever: Any) -> dict[str, float]:
    """Seconds spent in each stage of ``retriever``'s searches, summed as they run: the
    stages' methods are wrapped on this retriever's own objects."""
    spent: dict[str, float] = collections.defaultdict(float)

    def wrap(owner: Any, name: str, label: str) -> None:
        method: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        setattr(owner, name, timed)

    wrap(retriever.embedder, "embed_batch_terms", "embedding (with latent terms)")
    wrap(retriever.embedder, "embed_batch", "embedding")
    wrap(retriever.lexical, "scores", "BM25 over the version")
    wrap(retriever.corpus, "candidates", "candidates (graph walks)")
    wrap(retriever.corpus, "gather", "reading the candidates' rows")
    wrap(retriever.corpus, "signals", "scoring (candidates and sample)")
    wrap(retriever, "names", "names (abstention's evidence)")
    return spent


if __name__ == "__main__":
    sys.exit(main())
