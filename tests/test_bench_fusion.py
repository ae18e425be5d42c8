"""bench/fusion.py's variants and recall, on hand-made ranking inputs: fast, no model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import fusion  # noqa: E402

from natoqa.retrieve.retriever import Ranking  # noqa: E402


def case(gold_at: int, lexical_z: list[float], *, coverage: float = 0.5,
         case_id: str = "q1_de") -> fusion.Case:
    """Eight candidates whose dense z-scores fall 7, 6, …, 0; the gold one at ``gold_at``."""
    n = 8
    gold = np.zeros(n, dtype=np.bool_)
    gold[gold_at] = True
    dense_z = np.arange(n, 0, -1, dtype=np.float32) - 1
    lexical = np.asarray(lexical_z, dtype=np.float32)
    ranking = Ranking(dense=dense_z, lexical=lexical, dense_z=dense_z, lexical_z=lexical,
                      term_z=None, coverage=coverage)
    return fusion.Case(id=case_id, group="de", gold=gold, ranking=ranking, coverage_top=1.0)


def test_twins_in_two_languages_fall_in_the_same_half() -> None:
    halves = {fusion.half(f"{i:04d}_de") for i in range(40)}
    assert halves == {0, 1}
    assert all(fusion.half(f"{i:04d}_de") == fusion.half(f"{i:04d}_en") for i in range(40))


def test_variants_rank_by_their_own_rule() -> None:
    ranks = fusion.variants(lexical_weight=1.0, sparse_weight=0.0)
    # BM25 strongly for the last candidate: 20 times coverage 0.5 lifts it past the dense leader
    c = case(7, [0, 0, 0, 0, 0, 0, 0, 20])
    assert int(np.argmax(ranks["shipped"](c))) == 7
    # capped at 2, BM25 adds 1 and the dense leader (7) stays first
    assert int(np.argmax(ranks["lexical-z<=2"](c))) == 0
    # with full coverage over the best candidates the lexical side counts twice as much
    full = ranks["coverage-top50"](c) - ranks["shipped"](c)
    assert np.allclose(full, 0.5 * c.ranking.lexical_z)
    # reciprocal ranks: the candidate first by both sources is first
    both = case(0, [9, 0, 0, 0, 0, 0, 0, 1])
    assert int(np.argmax(ranks["rrf"](both))) == 0


def test_recall_counts_the_gold_within_the_first_five() -> None:
    shipped = fusion.variants(lexical_weight=0.0, sparse_weight=0.0)["shipped"]
    cases = [case(4, [0] * 8, case_id="a_de"), case(5, [0] * 8, case_id="a_en")]
    got = fusion.recall(cases, shipped)
    assert got["de"] == {"n": 2, "R@5": 0.5}
    assert got["all"]["R@5"] == 0.5
    assert sum(v["n"] for k, v in got.items() if k.startswith("half")) == 2
