"""Full build vs incremental rebuilds of a generated corpus of ≥ 300 documents.

Generates the corpus (bench/make_corpus.py), loads the real model once, then
times with the real builder: a full build into an empty index; a rebuild with
nothing changed; and rebuilds after changing, adding, removing and renaming one
document. Prints one line per build and a JSON summary at the end.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/rebuild.py --workdir /tmp/natoqa-bench
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from make_corpus import make_corpus

from natoqa.config import load_settings
from natoqa.embed.base import load_embedder
from natoqa.index.builder import BuildReport, build_index


def run(label: str, corpus: Path, index: Path, embedder: Any) -> dict[str, Any]:
    t = time.perf_counter()
    report: BuildReport = build_index(corpus, index, embedder)
    wall = time.perf_counter() - t
    row = {
        "build": label,
        "seconds": round(wall, 2),
        "embedded": report.passages_embedded,
        "reused": report.passages_reused,
        "documents": report.documents,
        "passages": report.passages,
        "switched": report.switched,
        "timings": report.timings,
    }
    print(
        f"{label:<22} {wall:7.2f}s  {report.documents} documents, {report.passages} passages, "
        f"{report.passages_embedded} embedded, {report.passages_reused} reused  {report.timings}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/natoqa-bench"))
    parser.add_argument("--documents", type=int, default=320)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)

    corpus, index = args.workdir / "corpus", args.workdir / "index"
    docs = make_corpus(corpus, args.documents)
    shutil.rmtree(index, ignore_errors=True)
    t = time.perf_counter()
    embedder = load_embedder(load_settings())
    print(f"model loaded in {time.perf_counter() - t:.1f}s (not part of the builds)")

    rows = [run("full build", corpus, index, embedder)]
    rows.append(run("nothing changed", corpus, index, embedder))
    with docs[7].open("a", encoding="utf-8") as fh:
        fh.write("\nDieser Satz wurde für den Benchmark an das Dokument angehängt.\n")
    rows.append(run("one document changed", corpus, index, embedder))
    added = corpus / "neu_0001.txt"
    added.write_text(
        "---\ntitle: Neues Dokument\nlanguage: de\n---\n\nDie NATO berät über ihre Zukunft. "
        "Die Mitgliedstaaten wollen ihre Verteidigungsausgaben erhöhen.\n",
        encoding="utf-8",
    )
    rows.append(run("one document added", corpus, index, embedder))
    docs[11].unlink()
    rows.append(run("one document removed", corpus, index, embedder))
    docs[12].rename(corpus / "umbenannt.txt")
    rows.append(run("one document renamed", corpus, index, embedder))

    full = rows[0]["seconds"]
    changed = rows[2]["seconds"]
    print(f"rebuild after changing one document: {changed:.2f}s = {100 * changed / full:.1f}% "
          f"of the full build ({full:.2f}s)")
    print(json.dumps({"documents": len(docs), "builds": rows}, indent=1))


if __name__ == "__main__":
    main()
