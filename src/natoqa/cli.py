"""The ``natoqa`` command line.

Exit codes: 0 success; 1 the command failed (message on stderr); 2 usage error;
3 the server cannot be reached; 4 the server answered with an error (for
``natoqa chat``: at least one question was refused; the session goes on);
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from natoqa.config import Settings, load_settings
from natoqa.errors import APIError, ConnectError, NatoqaError

if TYPE_CHECKING:
    from natoqa.builder import BuildReport

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
EXIT_API_ERROR = 4
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"natoqa: error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


class _Group(click.Group):
    """Turns natoqa's own errors into one line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConnectError as exc:
            _fail(exc.message, EXIT_UNREACHABLE)
        except APIError as exc:
            _fail(exc.message, EXIT_API_ERROR)
        except NatoqaError as exc:
            _fail(exc.message)
        except KeyboardInterrupt:
            click.echo("", err=True)
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group)
@click.version_option(package_name="natoqa")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """natoqa: answers questions about the future of NATO, citing its sources.

    \b
    Examples:
      natoqa build                       # index corpus/ into index/
      natoqa serve --port 8000           # run the API and the widget
      natoqa ask "Was erbt Rutte von Stoltenberg?"
    """
    try:
        ctx.obj = load_settings()
    except NatoqaError as exc:
        _fail(exc.message, 2)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # 12 lines of CPU probing


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

    \b
    Examples:
      natoqa build
      natoqa build --corpus corpus/ --index index/ --json
      natoqa build --watch               # rebuild whenever a file in corpus/ changes
    """
    from natoqa.builder import build_index, build_lock, check_corpus
    from natoqa.embedding import load_embedder
    from natoqa.progress import embedding_progress

    settings = _settings(ctx)
    corpus = corpus or settings.corpus_dir
    index = index or settings.index_dir
    lock_wait = wait if wait is not None else (300.0 if watch else 0.0)
    check_corpus(corpus)
    if not lock_wait:
        with build_lock(index):  # say "another build is running" now, not after model loading
            pass
    embedder = load_embedder(settings)

    def once() -> BuildReport:
        with embedding_progress() as progress:
            report = build_index(
                corpus, index, embedder, keep_versions=settings.keep_versions,
                lock_timeout=lock_wait, force=force, progress=progress,
            )
        _print_build(report, as_json, compact=watch)
        return report

    if watch:
        from natoqa.watch import watch_corpus

        watch_corpus(corpus, once, quiet_ms=debounce)
        return
    try:
        once()
    except KeyboardInterrupt:
        _fail("build interrupted: the current index is unchanged", EXIT_INTERRUPTED)


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


@main.command()
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000).")
@click.option("--workers", type=click.IntRange(1, 32),
              help="Server processes, each with its own model (default 1; NATOQA_WORKERS).")
@click.pass_context
def serve(
    ctx: click.Context, index: Path | None, host: str | None, port: int | None,
    workers: int | None,
) -> None:
    """Run the HTTP API (and the web widget).

    \b
    Examples:
      natoqa serve
      natoqa serve --index index/ --host 0.0.0.0 --port 8080
      NATOQA_TORCH_THREADS=1 natoqa serve --workers 2    # throughput on 2 cores
    """
    from natoqa.logs import configure_logging

    settings = _settings(ctx)
    # first, so that even import-time messages (faiss, torch) come out as JSON
    configure_logging(settings.log_level, as_json=settings.log_json)
    import uvicorn

    from natoqa.api.app import create_app
    from natoqa.embedding import resolve_model
    from natoqa.errors import IndexError_, ModelError
    from natoqa.store import IndexStore

    updates: dict[str, Any] = {}
    if index:
        updates["index_dir"] = index
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if workers:
        updates["workers"] = workers
    settings = settings.model_copy(update=updates)
    store = IndexStore(settings.index_dir)
    if not store.exists():
        _fail(f"no index in {settings.index_dir}: run 'natoqa build' first")
    try:  # a broken index, or one of another model: one clear line now, not a traceback
        store.load(expect_model=resolve_model(settings)[1])
    except IndexError_ as exc:
        _fail(f"{exc.message}; run 'natoqa build' or 'natoqa index rollback'")
    except ModelError as exc:
        _fail(exc.message)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,  # configure_logging did it: one format (JSON) for every logger
        "access_log": False,  # natoqa.access logs each request, with route, duration and id
        "timeout_keep_alive": settings.keepalive_timeout,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Workers are new processes that build the app from the environment
    # (natoqa.api.app.worker_app): this command's options go there, and metrics
    # get a folder in which every worker's values are added up.
    os.environ["NATOQA_INDEX_DIR"] = str(settings.index_dir.resolve())
    with tempfile.TemporaryDirectory(prefix="natoqa-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run("natoqa.api.app:worker_app", factory=True, workers=settings.workers,
                    **options)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Show the effective settings (secrets masked), the model and the index.

    \b
    Examples:
      natoqa info
      NATOQA_INDEX_DIR=/data/index natoqa info --json
    """
    from natoqa.info import collect, render_text

    report = collect(_settings(ctx))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(report))


@main.command()
@click.argument("question")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Server.")
@click.option("--history", multiple=True, help="An earlier question (repeatable, oldest first).")
@click.option("-k", type=click.IntRange(1, 20), default=None, help="Passages to cite (1-20).")
@click.option("--stream", is_flag=True, help="Print the answer as it arrives.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the JSON answer (with --stream: one JSON line per event).")
def ask(
    question: str, url: str, history: tuple[str, ...], k: int | None, stream: bool,
    as_json: bool,
) -> None:
    """Ask a running server a question and print the answer with its sources.

    \b
    Examples:
      natoqa ask "Was erbt Rutte von Stoltenberg?"
      natoqa ask "What is the New Force Model?" --json
      natoqa ask "Was ist das New Force Model?" --stream
      natoqa ask "Und wie groß soll sie sein?" --history "Was ist das New Force Model?"
    """
    from natoqa import terminal
    from natoqa.client import Client

    terminal.quiet_http_logs()
    with Client(url) as client:
        if stream:
            events = client.ask_stream(question, history=list(history), k=k)
            (terminal.print_stream_json if as_json else terminal.print_stream)(events)
            return
        answer = client.ask(question, history=list(history), k=k)
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
    else:
        terminal.print_answer(answer)


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Server.")
@click.option("-k", type=click.IntRange(1, 20), default=None, help="Passages to cite (1-20).")
@click.option("--no-stream", is_flag=True, help="Print each answer when it is complete.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON answer per line, no prompt: for scripts piping questions in.")
def chat(url: str, k: int | None, no_stream: bool, as_json: bool) -> None:
    """Talk with a running server: follow-up questions keep the conversation's context.

    Type a question and press Enter; the answer streams in, then its sources.
    /new starts a new conversation, /quit (or Ctrl-D) ends. Questions can also
    be piped in, one per line. A refused question is reported and the session
    goes on; the exit code is then 4.

    \b
    Examples:
      natoqa chat
      printf 'Wer folgt auf Stoltenberg?\\nWas erbt er?\\n' | natoqa chat --json
    """
    from natoqa import terminal
    from natoqa.client import Client

    terminal.quiet_http_logs()
    messages: list[tuple[str, str]] = []
    refused = 0
    interactive = sys.stdin.isatty()
    if interactive and not as_json:
        click.echo("natoqa chat — /new: new conversation, /quit: end", err=True)
    with Client(url) as client:
        for line in terminal.read_questions("» "):
            if line in ("/quit", "/exit"):
                break
            if line == "/new":
                messages.clear()
                continue
            turn = [*messages, ("user", line)]
            try:
                if as_json:
                    answer = client.chat(turn, k=k)
                    click.echo(answer.model_dump_json())
                    text = answer.answer
                elif no_stream:
                    answer = client.chat(turn, k=k)
                    terminal.print_answer(answer)
                    text = answer.answer
                else:
                    text = terminal.print_stream(client.chat_stream(turn, k=k)).text
            except APIError as exc:
                refused += 1
                click.echo(f"natoqa: error: {exc.message}", err=True)
                continue
            messages = [*turn, ("assistant", text)]
            if interactive and not as_json:
                click.echo("")
    if refused:
        sys.exit(EXIT_API_ERROR)


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
    from natoqa.cleaning import clean
    from natoqa.passages import split
    from natoqa.sources import load_file

    raw = load_file(file, file.parent)
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
        preview = p.text if show_text else (p.text[:100] + ("…" if len(p.text) > 100 else ""))
        click.echo(f"       {preview}")


@main.group(name="index")
def index_group() -> None:
    """The built index: its versions, and going back to an earlier one."""


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
    """
    from dataclasses import asdict

    from natoqa.errors import IndexError_
    from natoqa.store import IndexStore

    store = IndexStore(index or _settings(ctx).index_dir)
    rows = [asdict(info) for info in store.info()]
    if not rows:
        _fail(f"no index versions in {store.root}: run 'natoqa build' first")
    if verify:
        for row in rows:
            try:
                store.load(row["version"])
            except IndexError_ as exc:
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
            f"{row['passages'] or 0:>7} passages {row['size_bytes'] / 1e6:>8.1f} MB  "
            f"{row['model_id'] or '-'}{state}"
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
    from natoqa.builder import rollback
    from natoqa.store import IndexStore

    settings = _settings(ctx)
    index_dir = index or settings.index_dir
    before = IndexStore(index_dir).current()
    now = rollback(index_dir, version, lock_timeout=wait)
    click.echo(f"index {index_dir}: {now} is current (was {before})")


@main.group()
def model() -> None:
    """The embedding model."""


@model.command("prepare")
@click.pass_context
def model_prepare(ctx: click.Context) -> None:
    """Convert the packaged model (once) and verify it; print where it is.

    With NATOQA_BACKEND=onnx or onnx-int8 it also exports the ONNX files (once).

    \b
    Examples:
      natoqa model prepare
      NATOQA_BACKEND=onnx-int8 natoqa model prepare
    """
    from natoqa.embedding import resolve_model

    settings = _settings(ctx)
    source, model_id = resolve_model(settings)
    click.echo(f"{model_id}: {source}")
    if settings.backend != "torch":
        from natoqa.onnx_embedding import ensure_onnx

        if not Path(source).is_dir():
            _fail(f"NATOQA_BACKEND={settings.backend} needs a local model folder, not {source}")
        click.echo(f"{settings.backend}: {ensure_onnx(Path(source), settings.model_cache)}")


# `natoqa eval` lives in its own module (retrieval measurement); registered here.
from natoqa.eval_command import eval_command  # noqa: E402

main.add_command(eval_command)
