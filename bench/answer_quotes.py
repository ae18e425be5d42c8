"""How often an answer quotes the sentence that holds the gold fact.

    .venv/bin/python bench/answer_quotes.py --index index
    .venv/bin/python bench/answer_quotes.py --index index --xquad-index /tmp/xq/index \
        --weights 0,0.3,0.5,0.7
    .venv/bin/python bench/answer_quotes.py --index index --questions eval/backmatter.jsonl

Retrieval is measured by ``natoqa eval``: is the gold passage cited? This measures
the step after it: given that a cited passage holds the gold fact, does the
answer's text quote it? Per language, on the development set (gold = a quote)
and, with ``--xquad-index`` (``eval/assemble_xquad.py --with-natoqa``), on
every second XQuAD question (gold = XQuAD's answer span, counted only when the
gold paragraph is cited). ``--weights`` compares values of
``natoqa.answer.compose.DENSE_WEIGHT``: 0 chooses quotes by shared words alone.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
XQUAD = ROOT.parent / "shared" / "benchmarks" / "xquad_de" / "queries.jsonl"


def _norm(text: str) -> str:
    return " ".join(text.split())


def dev_questions(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    rows = []
    for path in paths or [ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl"]:
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line)
            if line.strip() and not row.get("out_of_scope"):
                rows.append(row)
    return rows


def measure(service: Any, rows: list[dict[str, Any]], *, xquad: bool) -> dict[str, list[int]]:
    """group -> [questions whose gold is cited, of them: answers quoting the gold]."""
    out: dict[str, list[int]] = {}
    for row in rows:
        answer = service.ask(row["question"], row.get("history", []))
        gold = row["answers"] if xquad else row["gold"]
        if xquad:
            cited = any(c.hit.passage.doc_id.endswith(row["gold_ids"][0] + ".txt")
                        for c in answer.citations)
        else:
            cited = any(_norm(g) in _norm(c.hit.passage.text)
                        for g in gold for c in answer.citations)
        if not cited:
            continue
        group = "followup" if row.get("history") else row["lang"]
        counts = out.setdefault(group, [0, 0])
        counts[0] += 1
        counts[1] += any(_norm(g) in _norm(answer.text) for g in gold)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--xquad-index", type=Path)
    parser.add_argument("--weights", default="", help="DENSE_WEIGHT values to compare")
    parser.add_argument("--questions", type=Path, nargs="+",
                        help="question files instead of the development set")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from natoqa.answer import compose as answer
    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder
    from natoqa.index.store import IndexStore
    from natoqa.service.service import QAService

    embedder = load_embedder(load_settings())
    sets = [("dev", args.index, dev_questions(args.questions), False)]
    if args.xquad_index:
        rows = [json.loads(line) for line in XQUAD.read_text("utf-8").splitlines()][::2]
        sets.append(("xquad", args.xquad_index, rows, True))
    weights = [float(w) for w in args.weights.split(",") if w] or [answer.DENSE_WEIGHT]
    for name, index, rows, xquad in sets:
        service = QAService(embedder, IndexStore(index))
        service.load()
        for weight in weights:
            answer.DENSE_WEIGHT = weight  # a bench: compare the module's one knob
            figures = measure(service, rows, xquad=xquad)
            line = ", ".join(f"{g} {q / n:.3f} (of {n})" for g, (n, q) in sorted(figures.items()))
            print(f"{name} DENSE_WEIGHT={weight}: answer quotes the gold: {line}", flush=True)


if __name__ == "__main__":
    main()
