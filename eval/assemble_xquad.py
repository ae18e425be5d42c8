"""Assemble the larger, harder retrieval corpus from XQuAD's German paragraphs.

Writes, under ``--out``:

* ``corpus/xquad/<paragraph id>.txt`` (+ ``.meta.toml``): the 240 German
  Wikipedia paragraphs of /work/shared/benchmarks/xquad_de, text only (the
  titles were never translated and would hint English questions);
* with ``--with-natoqa``, the bundled NATO corpus beside them as distractors
  (``corpus/natoqa/``), so the development set can be run against it too;
* ``questions.jsonl``: XQuAD's 1,190 questions in German and in English, in the
  development-set format (``gold_docs`` names the paragraph's document);
* ``questions-tune.jsonl`` and ``questions-held.jsonl``: the same questions split by
  Wikipedia article (a hash of its title), so that what is fitted on one half (the
  abstention calibration: docs/RETRIEVAL.md) is reported on the other.

With ``--holdout-every N`` every N-th paragraph is left out of the corpus and
its questions become out-of-scope: near-miss questions (same Wikipedia article,
missing paragraph) for testing abstention on material it was not tuned on.

Nothing of XQuAD is copied into the repository; the output goes where you say.

    .venv/bin/python eval/assemble_xquad.py --out /tmp/xq
    .venv/bin/natoqa build --corpus /tmp/xq/corpus --index /tmp/xq/index
    .venv/bin/natoqa eval /tmp/xq/questions.jsonl --index /tmp/xq/index
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "benchmarks" / "xquad_de"


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def assemble(source: Path, out: Path, *, with_natoqa: bool, holdout_every: int) -> dict[str, int]:
    corpus_file, queries_file = source / "corpus.jsonl", source / "queries.jsonl"
    if not corpus_file.is_file() or not queries_file.is_file():
        raise SystemExit(f"assemble_xquad: no XQuAD benchmark in {source}")
    paragraphs = [json.loads(line) for line in corpus_file.read_text("utf-8").splitlines() if line]
    queries = [json.loads(line) for line in queries_file.read_text("utf-8").splitlines() if line]

    corpus = out / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    (corpus / "xquad").mkdir(parents=True)
    held_out: set[str] = set()
    doc_of: dict[str, str] = {}
    for i, para in enumerate(paragraphs):
        pid = para["id"]
        if holdout_every and i % holdout_every == holdout_every - 1:
            held_out.add(pid)
            continue
        doc_of[pid] = f"xquad/{pid}.txt"
        (corpus / "xquad" / f"{pid}.txt").write_text(para["text"].strip() + "\n", "utf-8")
        (corpus / "xquad" / f"{pid}.meta.toml").write_text(
            f"title = {_toml_string(pid)}\nlanguage = \"de\"\nkind = \"Wikipedia paragraph\"\n",
            "utf-8",
        )
    if with_natoqa:
        shutil.copytree(ROOT / "corpus", corpus / "natoqa")

    counts = {"paragraphs": len(doc_of), "held_out": len(held_out), "answerable": 0, "oos": 0}
    title = {para["id"]: para.get("title", "") for para in paragraphs}
    with (out / "questions.jsonl").open("w", encoding="utf-8") as fh, \
            (out / "questions-tune.jsonl").open("w", encoding="utf-8") as tune, \
            (out / "questions-held.jsonl").open("w", encoding="utf-8") as held:
        for q in queries:
            golds = [doc_of[g] for g in q["gold_ids"] if g in doc_of]
            record: dict[str, object] = {
                "id": q["id"],
                "lang": q["lang"],
                "question": q["question"],
                "gold_docs": golds,
            }
            if not golds:
                record["out_of_scope"] = True
                counts["oos"] += 1
            else:
                counts["answerable"] += 1
            line = json.dumps(record, ensure_ascii=False) + "\n"
            fh.write(line)
            (held if _held(title.get(q["gold_ids"][0], "")) else tune).write(line)
    return counts


def _held(article: str) -> bool:
    """Whether an article's questions are in the held-out half (stable across runs)."""
    return int(hashlib.sha1(article.encode()).hexdigest(), 16) % 2 == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Output folder (created).")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="XQuAD benchmark.")
    parser.add_argument("--with-natoqa", action="store_true", help="Add the bundled corpus.")
    parser.add_argument(
        "--holdout-every", type=int, default=0, metavar="N",
        help="Leave out every N-th paragraph; its questions become out-of-scope (0: none).",
    )
    args = parser.parse_args(argv)
    if args.holdout_every < 0 or args.holdout_every == 1:
        parser.error("--holdout-every must be 0 or at least 2")
    args.out.mkdir(parents=True, exist_ok=True)
    counts = assemble(
        args.source, args.out, with_natoqa=args.with_natoqa, holdout_every=args.holdout_every
    )
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
