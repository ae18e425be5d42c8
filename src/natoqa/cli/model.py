"""``natoqa model``: the embedding model."""

from __future__ import annotations

from pathlib import Path

import click

from natoqa.cli.main import (
    fail,
    main,
    settings_of,
)


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
    from natoqa.embed.base import resolve_model

    settings = settings_of(ctx)
    source, model_id = resolve_model(settings)
    click.echo(f"{model_id}: {source}")
    if not settings.backend.startswith("torch"):
        from natoqa.embed.onnx import ensure_onnx

        if not Path(source).is_dir():
            fail(f"NATOQA_BACKEND={settings.backend} needs a local model folder, not {source}")
        click.echo(f"{settings.backend}: {ensure_onnx(Path(source), settings.model_cache)}")
