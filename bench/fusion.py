"""Other ways of fusing retrieval's evidence, measured offline against the shipped one.

Runs each question once per index through ``Retriever.fusion`` (the ranking's inputs
for its candidates: dense, BM25 and latent-term scores, raw and z-normalised, and the
lexical coverage), then ranks the candidates by each variant below and prints
recall@5 per language. Questions are split in two halves by a hash of their id (a
German question and its English twin, ``…_de``/``…_en``, fall in the same half), so a
variant chosen on one half can be checked on the other.

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/fusion.py \\
        --index /tmp/natoqa-scale/index-300-real --index /tmp/natoqa-scale/index-10000-real-prose \\
        --questions eval/devset.jsonl eval/followups.jsonl --json fusion-dev.json

Variants: ``shipped`` (the retriever's own, as configured), ``lexical-z<=2`` (BM25's
z-score capped at 2), ``rrf`` (reciprocal ranks, k = 60, each source weighted as
fusion weighs it), ``coverage-top50`` (coverage counted over the 50 best passages by
dense score instead of the whole vocabulary). docs/SCALE.md has what they gave.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.retrieve.retriever import Ranking

ROOT = Path(__file__).resolve().parents[1]
K = 5
RRF_K = 60
TOP_DENSE = 50

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Case:
    """One question's ranking inputs on one index, and which candidates hold its gold."""

    id: str
    group: str  # de, en or followup
    gold: npt.NDArray[np.bool_]
    ranking: Ranking
    #: the question's coverage counted over the best candidates by dense score
    coverage_top: float


def half(case_id: str) -> int:
    """0 or 1, the same for a question's German and English versions."""
    return zlib.crc32(case_id.removesuffix("_de").removesuffix("_en").encode()) % 2


def capture(index: Path, questions: list[Path]) -> list[Case]:
    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder
    from natoqa.evaluate.evaluation import is_hit, load_questions
    from natoqa.index.store import IndexStore
    from natoqa.retrieve.retriever import Retriever

    settings = load_settings()
    embedder = load_embedder(settings)
    version = IndexStore(index).load(expect_dim=embedder.dim, expect_model=embedder.model_id)
    retriever = Retriever(version, embedder, settings.retrieval)
    cases = []
    for q in load_questions(questions):
        if q.out_of_scope:
            continue
        f = retriever.fusion(q.question, q.history)
        rows = [int(r) for r in f.block.rows]
        best = np.argsort(-f.ranking.dense, kind="stable")[:TOP_DENSE]
        text = "\n".join(version.passages[rows[i]].text for i in best)
        cases.append(Case(
            id=q.id, group="followup" if q.history else q.lang,
            gold=np.array([is_hit(version.passages[r], q) for r in rows]), ranking=f.ranking,
            coverage_top=retriever.lexical.row_coverage(f.question, text),
        ))
    return cases


def variants(lexical_weight: float, sparse_weight: float) -> dict[str, Callable[[Case], Scores]]:
    def ranks(x: Scores) -> Scores:
        out = np.empty(len(x), dtype=np.float32)
        out[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
        return out

    def rrf(c: Case) -> Scores:
        r = c.ranking
        fused = 1 / (RRF_K + ranks(r.dense_z)) + lexical_weight * r.coverage / (
            RRF_K + ranks(r.lexical))
        if r.term_z is not None:
            fused = fused + sparse_weight * (1 - r.coverage) ** 2 / (RRF_K + ranks(r.term_z))
        return fused

    def shipped(r: Ranking) -> Scores:
        return r.scores(lexical_weight, sparse_weight)

    return {
        "shipped": lambda c: shipped(c.ranking),
        "lexical-z<=2": lambda c: shipped(
            replace(c.ranking, lexical_z=np.minimum(c.ranking.lexical_z, 2.0))),
        "rrf": rrf,
        "coverage-top50": lambda c: shipped(replace(c.ranking, coverage=c.coverage_top)),
    }


def recall(cases: list[Case], rank: Callable[[Case], Scores]) -> dict[str, Any]:
    hits: dict[str, list[bool]] = {}
    for c in cases:
        top = np.argsort(-rank(c), kind="stable")[:K]
        hit = bool(c.gold[top].any())
        for key in (c.group, "all", f"half{half(c.id)}"):
            hits.setdefault(key, []).append(hit)
    order = ("de", "en", "followup", "all", "half0", "half1")
    return {key: {"n": len(hits[key]), f"R@{K}": round(float(np.mean(hits[key])), 3)}
            for key in order if key in hits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, action="append", required=True,
                        help="Index folder (repeatable).")
    parser.add_argument("--questions", type=Path, nargs="+",
                        default=[ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl"])
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args(argv)
    from natoqa.config import load_settings

    cfg = load_settings().retrieval
    fusions = variants(cfg.lexical_weight, cfg.sparse_weight)
    out: dict[str, Any] = {"questions": [str(q) for q in args.questions], "indexes": {}}
    for index in args.index:
        cases = capture(index, args.questions)
        table = {name: recall(cases, rank) for name, rank in fusions.items()}
        out["indexes"][str(index)] = table
        print(f"{index} ({len(cases)} answerable questions), R@{K}:")
        for name, groups in table.items():
            print(f"  {name:<15} " + "  ".join(f"{g} {v[f'R@{K}']:.3f}" for g, v in groups.items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
