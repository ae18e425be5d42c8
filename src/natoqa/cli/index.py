"""``natoqa index``: the kept index versions, rollback, and merging segments."""

from __future__ import annotations

import json
from pathlib import Path

import click

from natoqa.cli.main import (
    fail,
    main,
    settings_of,
)


@main.group(name="index")
def index_group() -> None:
    """The built index: its versions, going back to an earlier one, merging segments."""


@index_group.command("list")
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option("--verify", is_flag=True, help="Also check each version's files (checksums).")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
@click.pass_context
def index_list(ctx: click.Context, index: Path | None, verify: bool, as_json: bool) -> None:
    """List the index versions, oldest first; * marks the current one.

    \b
    Examples:
      natoqa index list
      natoqa index list --verify --json
      NATOQA_STORE=postgresql://natoqa@db:5432/natoqa natoqa index list --verify
    """
    from dataclasses import asdict

    from natoqa.errors import IndexStoreError
    from natoqa.index.store import IndexStore
    from natoqa.index.stores import postgres_store

    settings = settings_of(ctx)
    database = postgres_store(settings)
    store = IndexStore(index or settings.index_dir)
    rows = [asdict(info) for info in (database or store).info()]
    if not rows:
        fail(f"no index versions in {database.where if database else store.root}: run "
             "'natoqa build' first")
    if verify:
        for row in rows:
            try:
                if database is not None:  # rows against manifest and commit counts
                    database.verify(row["version"])
                else:
                    store.load(row["version"], full_check=True)
            except IndexStoreError as exc:
                row["error"] = exc.message
            row["verified"] = row["error"] is None
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        state = f"  ERROR: {row['error']}" if row["error"] else ("  ok" if verify else "")
        click.echo(
            f"{mark} {row['version']}  {row['created'] or '-':<25} {row['documents'] or 0:>6} docs "
            f"{row['passages'] or 0:>7} passages {row['segments'] or 0:>3} segments "
            f"{row['size_bytes'] / 1e6:>8.1f} MB  {row['model_id'] or '-'}{state}"
        )


@index_group.command("rollback")
@click.argument("version", required=False)
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option(
    "--wait", type=click.FloatRange(0, 86_400), default=0.0,
    help="Seconds to wait while a build runs [default: fail at once].",
)
@click.pass_context
def index_rollback(
    ctx: click.Context, version: str | None, index: Path | None, wait: float
) -> None:
    """Make an earlier version current again (default: the one before the current).

    The version is verified first. A running server switches to it by itself;
    the next build starts from it.

    \b
    Examples:
      natoqa index rollback
      natoqa index rollback 20250101T120000000000Z-a1b2c3
    """
    from natoqa.index.builder import rollback
    from natoqa.index.store import IndexStore
    from natoqa.index.stores import postgres_store

    settings = settings_of(ctx)
    database = postgres_store(settings)
    if database is not None:
        before = database.current()
        now = database.rollback(version, lock_timeout=wait)
        click.echo(f"index in {database.where}: {now} is current (was {before})")
        return
    index_dir = index or settings.index_dir
    before = IndexStore(index_dir).current()
    now = rollback(index_dir, version, lock_timeout=wait)
    click.echo(f"index {index_dir}: {now} is current (was {before})")



@index_group.command("merge")
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option(
    "--max-segments", type=click.IntRange(1), default=1, show_default=True,
    help="Merge the smallest segments until at most this many are left.",
)
@click.option(
    "--wait", type=click.FloatRange(0, 86_400), default=0.0,
    help="Seconds to wait while a build runs [default: fail at once].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def index_merge(ctx: click.Context, index: Path | None, max_segments: int, wait: float,
                as_json: bool) -> None:
    """Merge the current version's segments into fewer, as a new version.

    A build writes segments of at most NATOQA_SEGMENT_PASSAGES passages, and a
    question searches each one: after the bulk build of a large archive, one
    segment answers faster (docs/SCALE.md). Nothing is embedded again and the
    model is not loaded; deleted documents' rows are dropped. A running server
    switches to the merged version by itself; 'natoqa index rollback' goes back.

    It writes the merged segments again (the old version stays until pruned, for
    rollback): it needs that much free disk, and at 100,000 passages about 20
    minutes of a core and 1.1 GB of memory.

    \b
    Examples:
      natoqa index merge
      natoqa -v index merge --max-segments 2 --json   # -v: log each step
    """
    from natoqa.index.merge import merge_index
    from natoqa.index.stores import postgres_store

    settings = settings_of(ctx)
    database = postgres_store(settings)
    if database is not None:
        fail(f"the index in {database.where} is PostgreSQL's: it has no segments to merge")
    index_dir = index or settings.index_dir
    report = merge_index(index_dir, max_segments=max_segments, lock_timeout=wait,
                         keep_versions=settings.keep_versions,
                         ann_min_passages=settings.ann_min_passages)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif not report.switched:
        click.echo(f"index {index_dir}: {report.segments} segment(s), nothing to merge")
    else:
        click.echo(f"index {index_dir}: {report.version} is current (was "
                   f"{report.previous_version}): {report.merged} segments merged into one of "
                   f"{report.passages_merged:,} passages ({report.segments} now), "
                   f"{report.seconds:.1f} s")
