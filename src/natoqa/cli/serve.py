"""``natoqa serve``: the HTTP API and the widget."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from natoqa.cli.main import (
    fail,
    main,
    settings_of,
)

#: how long uvicorn's supervisor waits for a worker's ping answer before it kills it: a
#: worker loading the model on a busy machine holds the GIL for seconds (uvicorn's 5 s
#: default restarted workers under load, and a restart loads the model again)
WORKER_HEALTHCHECK_SECONDS = 60


@main.command()
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder.")
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8000).")
@click.option("--workers", type=int,
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
      NATOQA_STORE=postgresql://reader@standby:5432/natoqa natoqa serve   # a replica
    """
    from natoqa.logs import configure_logging

    settings = settings_of(ctx)
    # first, so that even import-time messages (faiss, torch) come out as JSON
    configure_logging(settings.log_level, as_json=settings.log_json)
    import uvicorn

    from natoqa.api.app import create_app
    from natoqa.config import WORKER_SETTINGS, to_json, updated
    from natoqa.embed.base import resolve_model
    from natoqa.errors import ConfigError, IndexStoreError, ModelError, StoreUnreachable
    from natoqa.index.stores import version_source

    updates: dict[str, Any] = {}
    if index:
        updates["index_dir"] = index
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if workers:
        updates["workers"] = workers
    try:  # the settings' own bounds (NATOQA_PORT, NATOQA_WORKERS) hold for the options too
        settings = updated(settings, **updates)
    except ConfigError as exc:
        raise click.UsageError(exc.message) from None
    source = version_source(settings)
    try:  # no index, a broken one, or one of another model: one clear line, not a traceback
        if source.current() is None:
            fail(f"no index in {source.where}: run 'natoqa build' first")
        source.check(expect_model=resolve_model(settings)[1])
    except StoreUnreachable as exc:
        # a database that is down now may be up in a minute: the server starts unready
        # (/readyz 503) and loads the current version by itself once it is reachable
        click.echo(f"warning: {exc.message}; starting, not ready until it is reachable",
                   err=True)
    except IndexStoreError as exc:
        fail(f"{exc.message}; run 'natoqa build' or 'natoqa index rollback'")
    except ModelError as exc:
        fail(exc.message)
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
    # Workers are new processes that build the app (natoqa.api.app.worker_app) from
    # these settings, handed over whole; metrics get a folder in which every worker's
    # values are added up (prometheus_client reads its variable itself).
    settings = settings.model_copy(update={"index_dir": settings.index_dir.resolve()})
    os.environ[WORKER_SETTINGS] = to_json(settings)
    with tempfile.TemporaryDirectory(prefix="natoqa-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run("natoqa.api.app:worker_app", factory=True, workers=settings.workers,
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **options)

