"""Does ingestion's passage splitting retrieve better than a naive split? (issue 3)

Builds two indexes of the same corpus in a temporary folder with the real
model: the real pipeline (``natoqa.index.builder``: cleaning + sentence-aware
passages) and a naive one (raw text cut at blank lines, nothing cleaned), and
runs the development set against both, with the full hybrid retrieval and with
dense passage vectors only. A gold quote is a short exact phrase, so it is
found in a naive paragraph as long as the paragraph keeps it whole.

    .venv/bin/python bench/passages_vs_naive.py
    .venv/bin/python bench/passages_vs_naive.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from natoqa.config import RetrievalSettings, load_settings
from natoqa.embed.base import Embedder, load_embedder
from natoqa.evaluate.evaluation import load_questions, run, summarise
from natoqa.index import units as sentence_vectors
from natoqa.index.builder import build_index
from natoqa.index.store import DocumentRecord, IndexStore, IndexVersion, Manifest, new_version_name
from natoqa.ingest.passages import passage_id
from natoqa.ingest.sources import scan_corpus
from natoqa.models import DocumentMeta, Passage
from natoqa.retrieve.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]

#: the skeleton's retrieval: one passage vector per passage, history glued in front
DENSE_ONLY = RetrievalSettings(sentence_weight=0.0, lexical_weight=0.0, footnote_penalty=0.0,
                               history_weight=1.0)


def naive_passages(corpus: Path) -> list[Passage]:
    """Every blank-line paragraph of every raw file, as a body passage."""
    out = []
    for raw in scan_corpus(corpus).documents:
        text = "\n".join(raw.pages)
        for n, para in enumerate(p.strip() for p in text.split("\n\n")):
            if para:
                out.append(Passage(passage_id=passage_id(raw.doc_id, f"{n}:{para}"),
                                   doc_id=raw.doc_id, ordinal=n, text=para))
    return out


def naive_index(corpus: Path, folder: Path, embedder: Embedder) -> IndexVersion:
    passages = naive_passages(corpus)
    vectors = embedder.embed_batch([p.text for p in passages], kind="passage")
    store = IndexStore(folder)
    docs = sorted({p.doc_id for p in passages})
    manifest = Manifest(
        version=new_version_name(), model_id=embedder.model_id, dim=embedder.dim,
        passage_count=len(passages), documents={d: "" for d in docs},
        passage_settings={"naive": "blank lines"}, created="bench",
    )
    store.write(
        passages=passages, vectors=vectors, manifest=manifest,
        documents=[DocumentRecord(d, DocumentMeta(title=d), "", 0) for d in docs],
        extras=sentence_vectors.build(passages, embedder),
    )
    return store.load(manifest.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument(
        "--questions", type=Path, nargs="+",
        default=[ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl"],
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    questions = load_questions(args.questions)
    embedder = load_embedder(load_settings())
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="natoqa-bench-") as tmp:
        build_index(args.corpus, Path(tmp) / "real", embedder)
        indexes = {
            "passages": IndexStore(Path(tmp) / "real").load(),
            "naive": naive_index(args.corpus, Path(tmp) / "naive", embedder),
        }
        for split, index in indexes.items():
            for mode, config in (("hybrid", RetrievalSettings()),
                                 ("dense-only", DENSE_ONLY)):
                report = summarise(run(Retriever(index, embedder, config), questions))
                results[f"{split}/{mode}"] = {
                    "passages": len(index),
                    **{g: {"R@1": s.recall[1], "R@5": s.recall[5], "MRR@10": round(s.mrr, 3)}
                       for g, s in report.groups.items()},
                }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'index/retrieval':<22}{'passages':>9}  " + "  ".join(
        f"{g + ' R@1/R@5':>16}" for g in ("de", "en", "followup")))
    for name, r in results.items():
        cells = "  ".join(
            f"{r[g]['R@1']:>10.3f}/{r[g]['R@5']:.3f}" if g in r else f"{'-':>16}"
            for g in ("de", "en", "followup")
        )
        print(f"{name:<22}{r['passages']:>9}  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
