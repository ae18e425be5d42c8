"""Measuring retrieval: a question set run against an index, and what the numbers say.

A question set is JSON Lines, one question per line (format in docs/RETRIEVAL.md)::

    {"id": "de-01", "lang": "de", "question": "…", "gold": ["short exact quote"]}
    {"id": "fu-01", "lang": "de", "history": ["earlier question"], "question": "…", "gold": ["…"]}
    {"id": "oos-de-01", "lang": "de", "question": "…", "gold": [], "out_of_scope": true}
    {"id": "x", "lang": "en", "question": "…", "gold_docs": ["xquad/p001.txt"]}

A retrieved passage is a hit when one of the gold quotes appears in its text
(compared with whitespace collapsed) or its document is one of ``gold_docs``.
Answerable questions give recall@1/5/10 and MRR@10, per language and for
follow-ups (questions with a history) apart; out-of-scope questions give the
share that abstains; every question gives its latency.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from natoqa.errors import QuestionSetError
from natoqa.models import Passage

if TYPE_CHECKING:
    from natoqa.retrieve.abstain import Calibration

#: cut-offs of the recall columns; MRR is computed at the largest
CUTOFFS = (1, 5, 10)
LANGUAGES = ("de", "en")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    lang: str
    question: str
    gold: tuple[str, ...] = ()
    gold_docs: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    out_of_scope: bool = False
    topic: str = ""

    @property
    def group(self) -> str:
        """Where the question is reported: ``followup`` if it has a history, else its language."""
        return "followup" if self.history else self.lang


class RetrieverLike(Protocol):
    def search(self, question: str, history: Sequence[str] = (), k: int = 5) -> Any: ...


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def _strings(value: object, what: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise QuestionSetError(f"{where}: {what!r} must be a list of non-empty strings")
    return tuple(value)


def parse_question(data: object, where: str) -> EvalQuestion:
    """One question from its decoded JSON object; QuestionSetError says what is wrong."""
    if not isinstance(data, dict):
        raise QuestionSetError(f"{where}: expected a JSON object")
    unknown = set(data) - {f for f in EvalQuestion.__dataclass_fields__}
    if unknown:
        raise QuestionSetError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    question, qid, lang = data.get("question"), data.get("id"), data.get("lang")
    if not isinstance(question, str) or not question.strip():
        raise QuestionSetError(f"{where}: 'question' must be a non-empty string")
    if not isinstance(qid, str) or not qid:
        raise QuestionSetError(f"{where}: 'id' must be a non-empty string")
    if lang not in LANGUAGES:
        raise QuestionSetError(f"{where}: 'lang' must be one of {', '.join(LANGUAGES)}")
    oos = data.get("out_of_scope", False)
    if not isinstance(oos, bool):
        raise QuestionSetError(f"{where}: 'out_of_scope' must be true or false")
    gold = _strings(data.get("gold"), "gold", where)
    gold_docs = _strings(data.get("gold_docs"), "gold_docs", where)
    if oos and (gold or gold_docs):
        raise QuestionSetError(f"{where}: an out-of-scope question has no gold")
    if not oos and not (gold or gold_docs):
        raise QuestionSetError(f"{where}: needs 'gold' or 'gold_docs', or out_of_scope: true")
    topic = data.get("topic", "")
    return EvalQuestion(
        id=qid,
        lang=lang,
        question=question,
        gold=gold,
        gold_docs=gold_docs,
        history=_strings(data.get("history"), "history", where),
        out_of_scope=oos,
        topic=topic if isinstance(topic, str) else "",
    )


def load_questions(paths: Iterable[Path]) -> list[EvalQuestion]:
    """All questions of the given JSON Lines files, ids unique across them."""
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise QuestionSetError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise QuestionSetError(f"{path}: not UTF-8 text") from None
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuestionSetError(f"{where}: invalid JSON: {exc.msg}") from None
            q = parse_question(data, where)
            if q.id in seen:
                raise QuestionSetError(f"{where}: duplicate id {q.id!r}")
            seen.add(q.id)
            questions.append(q)
    if not questions:
        raise QuestionSetError("the question set is empty")
    return questions


def is_hit(passage: Passage, question: EvalQuestion) -> bool:
    """Does ``passage`` hold the answer: a gold quote in its text, or a gold document?"""
    if passage.doc_id in question.gold_docs:
        return True
    if not question.gold:
        return False
    text = _normalise(passage.text)
    return any(_normalise(quote) in text for quote in question.gold)


@dataclass(frozen=True)
class Outcome:
    """What retrieval did with one question."""

    question: EvalQuestion
    rank: int | None  # 1-based rank of the first hit within k, None if none
    no_answer: bool
    confidence: float
    latency_ms: float
    top_passage: str = ""
    evidence: dict[str, float] = field(default_factory=dict)


def run(
    retriever: RetrieverLike,
    questions: Sequence[EvalQuestion],
    *,
    k: int = max(CUTOFFS),
    progress: Callable[[int, int], None] | None = None,
) -> list[Outcome]:
    """Ask every question; the first ``k`` hits are judged."""
    outcomes: list[Outcome] = []
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        result = retriever.search(q.question, q.history, k)
        latency = (time.perf_counter() - t0) * 1000
        rank = next(
            (n for n, hit in enumerate(result.hits[:k], start=1) if is_hit(hit.passage, q)), None
        )
        outcomes.append(
            Outcome(
                question=q,
                rank=rank,
                no_answer=bool(result.no_answer),
                confidence=float(result.confidence),
                latency_ms=latency,
                top_passage=result.hits[0].passage.passage_id if result.hits else "",
                evidence=dict(getattr(result, "evidence", {}) or {}),
            )
        )
        if progress:
            progress(i + 1, len(questions))
    return outcomes


@dataclass(frozen=True)
class GroupScores:
    """Ranking quality of one group of answerable questions."""

    n: int
    recall: dict[int, float]
    mrr: float
    abstained: float  # share that wrongly abstained


@dataclass(frozen=True)
class Report:
    groups: dict[str, GroupScores]
    out_of_scope: int
    out_of_scope_abstained: float
    answerable: int
    answerable_abstained: float
    latency_ms: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scores(outcomes: Sequence[Outcome]) -> GroupScores:
    n = len(outcomes)
    top = max(CUTOFFS)
    recall = {c: sum(o.rank is not None and o.rank <= c for o in outcomes) / n for c in CUTOFFS}
    mrr = sum(1 / o.rank for o in outcomes if o.rank is not None and o.rank <= top) / n
    return GroupScores(n, recall, mrr, sum(o.no_answer for o in outcomes) / n)


def summarise(outcomes: Sequence[Outcome]) -> Report:
    """Per-group ranking scores, abstention shares and latency percentiles."""
    answerable = [o for o in outcomes if not o.question.out_of_scope]
    oos = [o for o in outcomes if o.question.out_of_scope]
    groups: dict[str, GroupScores] = {}
    for name in (*LANGUAGES, "followup"):
        members = [o for o in answerable if o.question.group == name]
        if members:
            groups[name] = _scores(members)
    if answerable:
        groups["all"] = _scores(answerable)
    latencies = sorted(o.latency_ms for o in outcomes)
    return Report(
        groups=groups,
        out_of_scope=len(oos),
        out_of_scope_abstained=sum(o.no_answer for o in oos) / len(oos) if oos else 0.0,
        answerable=len(answerable),
        answerable_abstained=(
            sum(o.no_answer for o in answerable) / len(answerable) if answerable else 0.0
        ),
        latency_ms=percentiles(latencies),
    )


def percentile(ordered: Sequence[float], p: float) -> float:
    """The value at fraction ``p`` of ``ordered`` (sorted, not empty): the nearest rank."""
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99 and mean, in the values' unit, rounded to 0.01 (empty: none)."""
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p90": round(percentile(ordered, 0.90), 2),
        "p99": round(percentile(ordered, 0.99), 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    out_of_scope_abstained: float
    answerable_abstained: float


def abstention_curve(outcomes: Sequence[Outcome], thresholds: Iterable[float]) -> list[CurvePoint]:
    """The trade-off of abstaining below each confidence threshold."""
    answerable = [o.confidence for o in outcomes if not o.question.out_of_scope]
    oos = [o.confidence for o in outcomes if o.question.out_of_scope]
    points = []
    for t in thresholds:
        points.append(
            CurvePoint(
                threshold=round(t, 4),
                out_of_scope_abstained=sum(c < t for c in oos) / len(oos) if oos else 0.0,
                answerable_abstained=(
                    sum(c < t for c in answerable) / len(answerable) if answerable else 0.0
                ),
            )
        )
    return points


def format_report(report: Report) -> str:
    """The report as an aligned text table."""
    header = f"{'group':<10}{'n':>5}" + "".join(f"{'R@' + str(c):>8}" for c in CUTOFFS)
    lines = [header + f"{'MRR@' + str(max(CUTOFFS)):>9}{'abstain':>9}"]
    for name, g in report.groups.items():
        cells = "".join(f"{g.recall[c]:>8.3f}" for c in CUTOFFS)
        lines.append(f"{name:<10}{g.n:>5}{cells}{g.mrr:>9.3f}{g.abstained:>9.3f}")
    lines.append("")
    if report.out_of_scope:
        lines.append(
            f"out-of-scope questions that abstain: {report.out_of_scope_abstained:.3f} "
            f"(of {report.out_of_scope})"
        )
    lines.append(
        f"answerable questions that wrongly abstain: {report.answerable_abstained:.3f} "
        f"(of {report.answerable})"
    )
    if report.latency_ms:
        lat = report.latency_ms
        lines.append(
            f"latency per question: p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} ms, "
            f"p99 {lat['p99']:.1f} ms, mean {lat['mean']:.1f} ms"
        )
    return "\n".join(lines)


def format_curve(points: Sequence[CurvePoint]) -> str:
    lines = [f"{'threshold':>10}{'out-of-scope abstain':>22}{'answerable abstain':>20}"]
    for p in points:
        lines.append(
            f"{p.threshold:>10.3f}{p.out_of_scope_abstained:>22.3f}{p.answerable_abstained:>20.3f}"
        )
    return "\n".join(lines)


# -- calibrating abstention ------------------------------------------------------


def fit_calibration(
    outcomes: Sequence[Outcome], features: Sequence[str] | None = None, *, l2: float = 1.0,
    weights: Sequence[float] | None = None,
) -> Calibration:
    """Fit P(answerable | evidence) by L2-regularised logistic regression (its provenance
    is left to the caller, who knows the command and the questions).

    Answerable and out-of-scope questions are weighted to count equally (the
    latter are few), each outcome times its ``weights`` entry (default 1: a small
    question set can be made to count beside a large one); features are
    standardised, so ``l2`` treats them alike. Plain Newton steps: a handful of
    features needs no library.
    """
    from natoqa.retrieve.abstain import FEATURES, Calibration

    # by default every feature all the outcomes have (without latent terms: all but theirs)
    names = tuple(features or (f for f in FEATURES if all(f in o.evidence for o in outcomes)))
    x, y = _design(outcomes, names)
    if y.min() == y.max():
        raise QuestionSetError("calibration needs answerable and out-of-scope questions")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != y.shape or (w < 0).any():
        raise ValueError("weights: one non-negative number per outcome")
    positive = float((w * y).sum() / w.sum())
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale[scale < 1e-9] = 1.0
    xs = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    sample_w = w * np.where(y == 1, 0.5 / positive, 0.5 / (1 - positive))
    penalty = np.full(xs.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    beta = np.zeros(xs.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(xs @ beta, -60, 60)))
        grad = xs.T @ (sample_w * (p - y)) + penalty * beta
        hess = (xs * (sample_w * p * (1 - p))[:, None]).T @ xs + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Calibration(
        weights=tuple(round(float(b), 6) for b in beta[:-1]),
        bias=round(float(beta[-1]), 6),
        mean=tuple(round(float(m), 6) for m in mean),
        scale=tuple(round(float(s), 6) for s in scale),
        features=names,
    )


def _design(outcomes: Sequence[Outcome], names: Sequence[str]) -> tuple[Any, Any]:
    missing = [o.question.id for o in outcomes if not set(names) <= set(o.evidence)]
    if missing:
        raise QuestionSetError(f"no evidence recorded for {', '.join(missing[:5])}")
    x = np.array([[o.evidence[n] for n in names] for o in outcomes], dtype=np.float64)
    y = np.array([0.0 if o.question.out_of_scope else 1.0 for o in outcomes])
    return x, y


def recalibrated(outcomes: Sequence[Outcome], calibration: Calibration) -> list[Outcome]:
    """The outcomes with confidence recomputed by ``calibration`` (abstention left to a
    threshold: see :func:`abstention_curve`)."""
    return [replace(o, confidence=calibration.probability(o.evidence)) for o in outcomes]


def cross_validated(
    outcomes: Sequence[Outcome], folds: int = 5, features: Sequence[str] | None = None
) -> list[Outcome]:
    """Each outcome's confidence from a calibration fitted without its fold: an honest
    estimate of how the calibration does on questions it has not seen."""
    order = sorted(range(len(outcomes)), key=lambda i: outcomes[i].question.id)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    result = list(outcomes)
    for f in range(folds):
        train = [o for i, o in enumerate(outcomes) if fold_of[i] != f]
        cal = fit_calibration(train, features)
        for i, o in enumerate(outcomes):
            if fold_of[i] == f:
                result[i] = replace(o, confidence=cal.probability(o.evidence))
    return result


def operating_point(outcomes: Sequence[Outcome], max_false_abstain: float = 0.05) -> CurvePoint:
    """The highest threshold at which at most ``max_false_abstain`` of the answerable
    questions abstain (the most out-of-scope ones abstaining within that budget)."""
    answerable = sorted(o.confidence for o in outcomes if not o.question.out_of_scope)
    if not answerable:
        raise QuestionSetError("no answerable questions to choose a threshold on")
    allowed = int(max_false_abstain * len(answerable) + 1e-9)
    # abstaining below answerable[allowed] leaves exactly `allowed` answerable ones out
    threshold = answerable[allowed] if allowed < len(answerable) else answerable[-1] + 1e-6
    return abstention_curve(outcomes, [threshold])[0]
