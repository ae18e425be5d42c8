"""What a PostgreSQL replica's cohorts cost as builds accumulate, merged or not (issue 20).

A replica holds one cohort per build whose documents are still live
(:mod:`natoqa.index.postgres_cohorts`), and BM25 (:class:`natoqa.retrieve.lexical.LexicalIndex`)
keeps a part per cohort: opening a version walks every part's vocabulary, and a question
walks every part that holds each of its terms. This simulates a first load of
``--passages`` passages followed by ``--builds`` builds of ``--per-build`` passages each
(a publisher adding a few articles a day), in memory, with texts drawn from a Zipf
vocabulary (German analysis on), and measures for the cohorts as they are and as
:func:`~natoqa.index.postgres_cohorts.merged` keeps them after each build:

- the number of cohorts (BM25 parts);
- building the LexicalIndex over them (part of every open: a switch or a start);
- BM25 scoring per question (p50 of ``--questions`` questions of 8 words);
- what merging adds to each open (p50 and the largest);

beside the first load's cohort alone.

No database: the cohorts are made from :meth:`Lexicon.build` as a read would make them.

    .venv/bin/python bench/cohorts.py --passages 20000 --builds 200
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from natoqa.index.lexicon import Lexicon
from natoqa.index.postgres_cohorts import Cohort, merged
from natoqa.retrieve.lexical import LexicalIndex


def cohort(number: int, texts: Sequence[str], first_id: int, first_doc: int) -> Cohort:
    """The cohort of one build's ``texts`` (one document each)."""
    n = len(texts)
    documents = np.arange(first_doc, first_doc + n, dtype=np.int64)
    return Cohort(numbers=(number,), ids=np.arange(first_id, first_id + n, dtype=np.int64),
                  document=documents, passage_ids=[f"p{first_id + i}" for i in range(n)],
                  doc_ids=[f"d{d}" for d in documents], kinds=["body"] * n, ordinals=[0] * n,
                  chars=[len(t) for t in texts], lexicon=Lexicon.build(texts),
                  names={int(d): [] for d in documents},
                  units={int(d): (1, 1) for d in documents},
                  documents=frozenset(int(d) for d in documents))


def measure(cohorts: Sequence[Cohort], questions: Sequence[str]) -> dict[str, Any]:
    t = time.perf_counter()
    index = LexicalIndex.from_parts([(c.lexicon, np.arange(len(c.ids))) for c in cohorts
                                     if c.lexicon is not None])
    open_s = time.perf_counter() - t
    times = []
    for question in questions:
        t = time.perf_counter()
        index.scores(question)
        times.append((time.perf_counter() - t) * 1000)
    return {"cohorts": len(cohorts), "lexical_index_s": round(open_s, 3),
            "bm25_p50_ms": round(statistics.median(times), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=20_000, help="The first load's.")
    parser.add_argument("--builds", type=int, default=200, help="Builds after the first.")
    parser.add_argument("--per-build", type=int, default=5, help="Passages each build adds.")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--json", help="Write the figures here.")
    args = parser.parse_args()
    rng = random.Random(7)
    # Zipf-like: a few words very common, most rare (as in prose)
    vocabulary = [f"{rng.choice(['Bündnis', 'Wehr', 'Ost', 'Luft', 'Gipfel'])}"
                  f"{rng.choice(['flanke', 'abwehr', 'politik', 'haushalt', 'ziel'])}{i}"
                  for i in range(30_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def texts(n: int) -> list[str]:
        return [" ".join(rng.choices(vocabulary, weights, k=60)) for _ in range(n)]

    questions = [" ".join(rng.choices(vocabulary[:5000], k=8)) for _ in range(args.questions)]
    first = cohort(1, texts(args.passages), 0, 0)
    plain, kept, merge_s = [first], [first], []
    next_id = args.passages
    for b in range(args.builds):
        new = cohort(b + 2, texts(args.per_build), next_id, next_id)
        next_id += args.per_build
        plain.append(new)
        t = time.perf_counter()
        kept = merged([*kept, new])
        merge_s.append(time.perf_counter() - t)
    result = {
        "passages": next_id, "builds": args.builds, "per_build": args.per_build,
        "one_per_build": measure(plain, questions),
        "merged": measure(kept, questions) | {
            "merge_per_open_ms_p50": round(statistics.median(merge_s) * 1000, 2),
            "merge_per_open_ms_max": round(max(merge_s) * 1000, 1)},
        "first_load_alone": measure([first], questions),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
