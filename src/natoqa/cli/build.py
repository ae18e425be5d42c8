"""``natoqa build``: index the corpus, once or on every change."""

from __future__ import annotations

import json
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
    With NATOQA_RAY_ADDRESS set they are embedded by a Ray cluster's workers.

    \b
    Examples:
      natoqa build
      natoqa build --corpus corpus/ --index index/ --json
      natoqa build --watch               # rebuild whenever a file in corpus/ changes
    """
    from natoqa.embed.base import load_build_embedder
    from natoqa.index.builder import build_index, build_lock, check_corpus
    from natoqa.index.progress import embedding_progress

    settings = settings_of(ctx)
    corpus = corpus or settings.corpus_dir
    index = index or settings.index_dir
    lock_wait = wait if wait is not None else (300.0 if watch else 0.0)
    check_corpus(corpus)
    if not lock_wait:
        with build_lock(index):  # say "another build is running" now, not after model loading
            pass
    embedder = load_build_embedder(settings)  # on the Ray cluster of NATOQA_RAY_ADDRESS, if set

    def once() -> BuildReport:
        with embedding_progress() as progress:
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

