"""``natoqa build``: index the corpus, once or on every change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from natoqa.index.builder import BuildReport

from natoqa.cli.main import EXIT_INTERRUPTED, fail, main, settings_of


@main.command()
@click.option("--corpus", "corpus", type=click.Path(path_type=Path), help="Source folder.")
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option(
    "--json", "as_json", is_flag=True,
    help="Print the build summary as JSON (with --watch: one line per build).",
)
@click.option("--watch", is_flag=True, help="Keep running: rebuild when corpus files change.")
@click.option(
    "--debounce", type=click.IntRange(50, 600_000), default=1000, show_default=True,
    help="With --watch: milliseconds without changes before a rebuild starts.",
)
@click.option(
    "--wait", type=click.FloatRange(0, 86_400), default=None,
    help="Seconds to wait while another build runs [default: fail at once; 300 with --watch].",
)
@click.option("--force", is_flag=True, help="Write a new version even if nothing changed.")
@click.pass_context
def build(
    ctx: click.Context,
    corpus: Path | None,
    index: Path | None,
    as_json: bool,
    watch: bool,
    debounce: int,
    wait: float | None,
    force: bool,
) -> None:
    """Index the corpus: read, clean, split, embed what is new, and switch to the new version.

    Only passages whose text is new are embedded; the others keep their vectors.
    The running server (``natoqa serve``) switches to the new version by itself.
    With NATOQA_STORE=postgresql://… the version is written to that database (its
    primary) in one transaction; every server reading it switches at the commit.
    With NATOQA_RAY_ADDRESS set passages are embedded by a Ray cluster's workers.

    \b
    Examples:
      natoqa build
      natoqa build --corpus corpus/ --index index/ --json
      natoqa build --watch               # rebuild whenever a file in corpus/ changes
      NATOQA_STORE=postgresql://natoqa@db:5432/natoqa natoqa build --wait 600
    """
    from natoqa.embed.base import load_build_embedder
    from natoqa.index.builder import build_index, build_lock, check_corpus
    from natoqa.index.progress import embedding_progress
    from natoqa.index.stores import postgres_store

    settings = settings_of(ctx)
    corpus = corpus or settings.corpus_dir
    index = index or settings.index_dir
    lock_wait = wait if wait is not None else (300.0 if watch else 0.0)
    check_corpus(corpus)
    database = postgres_store(settings)
    if not lock_wait:
        # say "another build is running" (or "the database is down") now, not after the model
        with database.build_lock() if database else build_lock(index):
            pass
    embedder = load_build_embedder(settings)  # on the Ray cluster of NATOQA_RAY_ADDRESS, if set

    def once() -> BuildReport:
        with embedding_progress() as progress:
            if database is not None:
                from natoqa.index.postgres_build import build_postgres

                report = build_postgres(
                    corpus, database, embedder, keep_versions=settings.keep_versions,
                    lock_timeout=lock_wait, force=force, progress=progress,
                    unit_vectors=settings.unit_vectors,
                    cache_file=_resume_file(index, database.schema),
                )
            else:
                report = build_index(
                    corpus, index, embedder, keep_versions=settings.keep_versions,
                    lock_timeout=lock_wait, force=force, progress=progress,
                    ann_min_passages=settings.ann_min_passages,
                    segment_passages=settings.segment_passages,
                    unit_vectors=settings.unit_vectors,
                )
        _print_build(report, as_json, compact=watch)
        return report

    if watch:
        from natoqa.index.watch import watch_corpus

        watch_corpus(corpus, once, quiet_ms=debounce)
        return
    try:
        once()
    except KeyboardInterrupt:
        fail("build interrupted: the current index is unchanged", EXIT_INTERRUPTED)


def _resume_file(index: Path, schema: str) -> Path | None:
    """Where a PostgreSQL build keeps what it embedded until it commits, so an interrupted
    one resumes: in the index folder, when it can be written (a read-only container has
    none, and goes without)."""
    try:
        index.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return index / f".embeddings-{schema}.sqlite" if os.access(index, os.W_OK) else None


def _print_build(report: BuildReport, as_json: bool, *, compact: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=None if compact else 2))
        return
    for skipped in report.skipped:
        click.echo(f"skipped {skipped['path']}: {skipped['reason']}", err=True)
    if report.full_rebuild:
        click.echo(f"full rebuild: {report.full_rebuild}", err=True)
    docs = (
        f"{report.documents} documents ({len(report.added)} added, {len(report.changed)} "
        f"changed, {len(report.removed)} removed, {len(report.unchanged)} unchanged)"
    )
    if not report.switched:
        click.echo(f"index {report.version} is up to date: {docs}")
        return
    click.echo(
        f"built index {report.version} in {report.seconds:.1f}s: {docs}, {report.passages} "
        f"passages ({report.passages_embedded} embedded, {report.passages_reused} reused)"
    )

