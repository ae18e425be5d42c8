"""``natoqa eval``: run question sets against an index and print what retrieval achieved."""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from natoqa.config import Settings

CURVE = tuple(round(0.05 * i, 2) for i in range(1, 20))


@click.command(name="eval")
@click.argument("questions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option("-k", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Hits judged per question.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
@click.option("--curve", is_flag=True, help="Also print the abstention trade-off curve.")
@click.option("--calibrate", is_flag=True,
              help="Fit the abstention calibration on these questions and print it.")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path),
              help="With --calibrate: write it, with what it was fitted on, in the format of "
              "natoqa/data/abstention.json (for NATOQA_RETRIEVAL_CALIBRATION).")
@click.option("--weight", "weights", multiple=True, metavar="FILE=N",
              help="With --calibrate: count the questions of FILE (one of QUESTIONS) N times "
              "in the fit (default 1), e.g. to let a small question set count beside a large "
              "one. Repeatable.")
@click.option("--misses", is_flag=True,
              help="List the questions retrieval got wrong.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    questions: tuple[Path, ...],
    index: Path | None,
    k: int,
    as_json: bool,
    curve: bool,
    calibrate: bool,
    save: Path | None,
    weights: tuple[str, ...],
    misses: bool,
) -> None:
    """Measure retrieval: recall@1/5/10, MRR@10, abstention and latency per language.

    QUESTIONS are JSON Lines files (format in docs/RETRIEVAL.md). A hit is a
    retrieved passage that contains one of a question's gold quotes.

    \b
    Examples:
      natoqa eval eval/devset.jsonl eval/followups.jsonl
      natoqa eval eval/devset.jsonl --index index/ --json
      natoqa eval eval/devset.jsonl eval/followups.jsonl --calibrate --save calibration.json
    """
    from natoqa.embed.base import load_embedder
    from natoqa.errors import IndexNotFound
    from natoqa.evaluate.evaluation import (
        abstention_curve,
        cross_validated,
        fit_calibration,
        format_curve,
        format_report,
        load_questions,
        operating_point,
        recalibrated,
        run,
        summarise,
    )
    from natoqa.index.store import IndexStore
    from natoqa.index.stores import version_source
    from natoqa.retrieve import abstain
    from natoqa.retrieve.retriever import Retriever

    if (save or weights) and not calibrate:
        raise click.UsageError(f"{'--save' if save else '--weight'} needs --calibrate")
    weight_of = _file_weights(weights, questions)
    settings: Settings = ctx.obj
    qs = load_questions(questions)  # bad input fails before the model is loaded
    store = IndexStore(index) if index else version_source(settings)
    if store.current() is None:  # a hint before the model is loaded
        raise IndexNotFound(f"no index in {store.where}: run 'natoqa build' first")
    abstention = abstain.load(settings.retrieval.calibration)  # a bad file fails early
    embedder = load_embedder(settings)
    version = store.load(expect_dim=embedder.dim, expect_model=embedder.model_id)
    retriever = Retriever(version, embedder, settings.retrieval, calibration=abstention)
    retriever.search("warm-up")  # the first call pays lazy set-up; not a question's latency

    def progress(done: int, total: int) -> None:
        if not as_json and sys.stderr.isatty():
            click.echo(f"\r{done}/{total} questions", nl=done == total, err=True)

    outcomes = run(retriever, qs, k=k, progress=progress)
    report = summarise(outcomes)
    out: dict[str, Any] = {
        "index": version.version,
        "k": k,
        "questions": len(qs),
        "abstain_threshold": settings.retrieval.abstain_threshold,
        "report": report.to_dict(),
    }
    text = [f"index {version.version}, {len(version)} passages; {len(qs)} questions, k={k}",
            "", format_report(report)]
    if curve:
        points = abstention_curve(outcomes, CURVE)
        out["curve"] = [asdict(p) for p in points]
        text += ["", "abstention trade-off (abstain below threshold):", format_curve(points)]
    if calibrate:
        per_file = {q.id: weight_of.get(path, 1.0)
                    for path in questions for q in load_questions([path])}
        fitted = fit_calibration(outcomes, weights=[per_file[o.question.id] for o in outcomes])
        point = operating_point(recalibrated(outcomes, fitted))
        calibration = replace(fitted, fitted=abstain.Provenance(
            date=datetime.now(UTC).date().isoformat(),
            command=shlex.join(["natoqa", *sys.argv[1:]]),
            questions=tuple(str(q) for q in questions),
            questions_sha256=abstain.question_set_hash(questions),
            index=version.version,
            threshold=point.threshold,
        ))
        cv_point = abstention_curve(cross_validated(outcomes), [point.threshold])[0]
        out["calibration"] = calibration.to_dict()
        out["calibration_fit"] = asdict(point)
        out["calibration_cross_validated"] = asdict(cv_point)
        text += [
            "",
            "calibration fitted on these questions:",
            json.dumps(out["calibration"]),
            f"at threshold {point.threshold:.3f}: out-of-scope abstain "
            f"{point.out_of_scope_abstained:.3f}, answerable abstain "
            f"{point.answerable_abstained:.3f} (in-sample)",
            f"5-fold cross-validated at that threshold: out-of-scope abstain "
            f"{cv_point.out_of_scope_abstained:.3f}, answerable abstain "
            f"{cv_point.answerable_abstained:.3f}",
        ]
        if save:
            calibration.save(save)
            text.append(f"saved to {save}")
    if misses:
        wrong = [
            {"id": o.question.id, "question": o.question.question, "rank": o.rank,
             "no_answer": o.no_answer, "confidence": round(o.confidence, 3)}
            for o in outcomes
            if (o.question.out_of_scope and not o.no_answer)
            or (not o.question.out_of_scope and (o.rank != 1 or o.no_answer))
        ]
        out["misses"] = wrong
        text += ["", "misses (answerable: not first or abstained; out-of-scope: answered):"]
        text += [f"  {m['id']:<12} rank {m['rank']!s:>4}  conf {m['confidence']:.3f}  "
                 f"{m['question']}" for m in wrong]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(text))


def _file_weights(weights: tuple[str, ...], questions: tuple[Path, ...]) -> dict[Path, float]:
    """``--weight FILE=N`` options as {question file: N}; a usage error names a bad one."""
    out: dict[Path, float] = {}
    for option in weights:
        name, _, number = option.rpartition("=")
        path = Path(name)
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not name or not math.isfinite(value) or value <= 0:
            raise click.UsageError(f"--weight {option!r}: expected FILE=N with N a positive number")
        if path not in questions:
            raise click.UsageError(f"--weight {option!r}: {name} is not one of the question files")
        out[path] = value
    return out
