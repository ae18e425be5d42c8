"""``natoqa docs``: change a running server's documents over HTTP, and follow its builds."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from natoqa.cli.main import fail, main, settings_of

if TYPE_CHECKING:
    from natoqa.api.schemas_admin import BuildPublic, DocumentChangePublic
    from natoqa.client.client import Client

_URL = click.option("--url", default="http://127.0.0.1:8000", show_default=True,
                    help="Server.")
_TOKEN = click.option("--token", help="A documents token (NATOQA_DOCUMENTS_TOKENS) or the "
                      "admin token; default: NATOQA_ADMIN_TOKEN.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
_WAIT = click.option("--wait", is_flag=True,
                     help="Wait for the build and print its report (exit 1 if it failed).")


@main.group(name="docs")
def docs_group() -> None:
    """A running server's documents: upload, remove, list (needs a token).

    \b
    Examples:
      natoqa docs put studie.pdf --title "Die Zukunft der NATO" --author "A. Muster" --wait
      natoqa docs rm studie
      natoqa docs list --query zukunft
    """


def _client(ctx: click.Context, url: str, token: str | None) -> Client:
    from natoqa.client import terminal
    from natoqa.client.client import Client

    terminal.quiet_http_logs()
    admin = settings_of(ctx).admin_token
    token = token or (admin.get_secret_value() if admin else None)
    if not token:
        fail("no token: give --token, or set NATOQA_ADMIN_TOKEN")
    return Client(url, api_key=token)


def _read_meta(path: Path) -> dict[str, Any]:
    """Metadata from a sidecar-style TOML file or a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"cannot read metadata from {path}: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: metadata must be a table/object")
    return data


def _finish(client: Client, change: DocumentChangePublic, wait: bool, as_json: bool) -> None:
    build: BuildPublic | None = None
    if wait and change.build_id:
        build = client.wait_for_build(change.build_id)
    if as_json:
        data = change.model_dump()
        if build is not None:
            data["build"] = build.model_dump()
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif not change.changed and not change.build_id:
        click.echo(f"{change.doc_id}: unchanged, nothing to build")
    else:
        click.echo(f"{change.doc_id}: {change.document.status}, build {change.build_id}")
        if build is not None:
            _print_build(build)
    if build is not None and build.state == "failed":
        fail(f"build {build.id} failed: {build.error}")


def _print_build(build: BuildPublic) -> None:
    report = build.report or {}
    if build.state != "succeeded":
        click.echo(f"build {build.id}: {build.state}" + (f": {build.error}" if build.error
                                                          else ""))
        return
    click.echo(
        f"build {build.id}: version {build.version}; added {report.get('added', [])}, changed "
        f"{report.get('changed', [])}, removed {report.get('removed', [])}, skipped "
        f"{[s.get('doc_id') for s in report.get('skipped', [])]}, {report.get('seconds')} s"
    )


@docs_group.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "doc_id", help="The document's name (default: FILE's name without "
              "suffix); the same name replaces it.")
@click.option("--meta", "meta_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Metadata from a .toml (like a NAME.meta.toml sidecar) or .json file.")
@click.option("--title", help="Default: the title the file itself states.")
@click.option("--author", "authors", multiple=True, help="Repeatable.")
@click.option("--date", help="YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--publisher", help="Who published it.")
@click.option("--source-url", help="Link to the source.")
@click.option("--language", help="e.g. de or en.")
@_URL
@_TOKEN
@_WAIT
@_JSON
@click.pass_context
def docs_put(
    ctx: click.Context, file: Path, doc_id: str | None, meta_file: Path | None,
    title: str | None, authors: tuple[str, ...], date: str | None, publisher: str | None,
    source_url: str | None, language: str | None, url: str, token: str | None, wait: bool,
    as_json: bool,
) -> None:
    """Upload FILE (PDF, HTML, Markdown, text) to create or replace a document.

    Options override --meta. The same file and metadata again change nothing.

    \b
    Examples:
      natoqa docs put studie.pdf --title "Die Zukunft der NATO" --date 2025-06 --wait
      natoqa docs put bericht.html --id bericht-2025 --meta bericht.meta.toml
      natoqa docs put notiz.md --url http://natoqa:8000 --token "$CMS_TOKEN" --json
    """
    meta: dict[str, Any] = _read_meta(meta_file) if meta_file else {}
    given = {"title": title, "authors": list(authors), "date": date, "publisher": publisher,
             "url": source_url, "language": language}
    meta.update({k: v for k, v in given.items() if v})
    meta = {k: v for k, v in meta.items() if k in given}  # sidecars may hold more (kind, …)
    with _client(ctx, url, token) as client:
        change = client.put_document(doc_id or file.stem, file, **meta)
        _finish(client, change, wait, as_json)


@docs_group.command("rm")
@click.argument("doc_id")
@_URL
@_TOKEN
@_WAIT
@_JSON
@click.pass_context
def docs_rm(ctx: click.Context, doc_id: str, url: str, token: str | None, wait: bool,
            as_json: bool) -> None:
    """Remove the document DOC_ID (its file and metadata) from the server's corpus.

    \b
    Examples:
      natoqa docs rm studie
      natoqa docs rm bericht-2025 --wait
    """
    with _client(ctx, url, token) as client:
        _finish(client, client.delete_document(doc_id), wait, as_json)


@docs_group.command("list")
@click.option("--query", "-q", help="Only documents whose title or name contains this.")
@_URL
@_TOKEN
@_JSON
@click.pass_context
def docs_list(ctx: click.Context, query: str | None, url: str, token: str | None,
              as_json: bool) -> None:
    """List the documents with their status: indexed (in which version), pending, skipped.

    \b
    Examples:
      natoqa docs list
      natoqa docs list -q nato --json
    """
    with _client(ctx, url, token) as client:
        listing = client.admin_documents(query=query)
    if as_json:
        click.echo(listing.model_dump_json(indent=2))
        return
    for doc in listing.documents:
        state = {"indexed": f"indexed in {doc.version}", "skipped": f"skipped: {doc.reason}",
                 "pending": "pending" if doc.in_corpus else "pending removal"}[doc.status]
        click.echo(f"{doc.doc_id:<32} {doc.format or '-':<5} {state}  "
                   f"{doc.meta.get('title') or ''}")
    if listing.build is not None:
        click.echo(f"build {listing.build.id} {listing.build.state}")


@docs_group.command("build")
@click.argument("build_id", required=False)
@_URL
@_TOKEN
@_JSON
@click.pass_context
def docs_build(ctx: click.Context, build_id: str | None, url: str, token: str | None,
               as_json: bool) -> None:
    """Show the build BUILD_ID, or the recent builds.

    \b
    Examples:
      natoqa docs build
      natoqa docs build 20250611T101459000000Z-a1b2c3 --json
    """
    with _client(ctx, url, token) as client:
        builds = [client.build(build_id)] if build_id else client.builds().builds
    if as_json:
        click.echo(json.dumps([b.model_dump() for b in builds], ensure_ascii=False, indent=2))
        return
    for build in builds:
        _print_build(build)
