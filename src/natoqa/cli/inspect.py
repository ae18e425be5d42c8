"""``natoqa inspect``: how a document is cleaned and split, without building."""

from __future__ import annotations

from pathlib import Path

import click

from natoqa.cli.main import (
    main,
)


@main.command(name="inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text", "show_text", is_flag=True, help="Print every passage's full text.")
def inspect_cmd(file: Path, show_text: bool) -> None:
    """Show how a document is cleaned and split, without building anything.

    \b
    Examples:
      natoqa inspect corpus/000_1806e3d119a3e492.txt
      natoqa inspect report.pdf --text
    """
    from natoqa.ingest.cleaning import clean
    from natoqa.ingest.passages import split
    from natoqa.ingest.sources import load_file

    raw = load_file(file, file.resolve().parent)  # a file named here may be a link: show it
    doc = clean(raw)
    parts = split(doc)
    meta = doc.meta
    click.echo(f"{doc.doc_id}: {meta.title}")
    click.echo(
        f"  authors: {', '.join(meta.authors) or '-'}; date: {meta.date or '-'}; "
        f"language: {meta.language or '-'}; {len(doc.text)} characters; "
        f"{len(doc.footnotes)} footnotes; {len(doc.sections)} sections"
    )
    for p in parts:
        page = f"p.{p.page}" if p.page is not None else "-"
        label = f"footnote {p.footnote}" if p.kind == "footnote" else p.kind
        click.echo(
            f"{p.ordinal:4d} {p.passage_id} {page:>5} {p.word_count:4d}w "
            f"{label:<12} {p.section or '-'}"
        )
        flat = " ".join(p.text.split())  # a back-matter passage begins with its heading line
        preview = p.text if show_text else (flat[:100] + ("…" if len(flat) > 100 else ""))
        click.echo(f"       {preview}")

