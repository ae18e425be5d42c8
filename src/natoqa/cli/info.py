"""What ``natoqa info`` reports: effective settings (secrets masked), model and index.

Nothing is loaded: the model's dimensions come from its folder's configuration
and the index's figures from its manifest, so the command answers in about a
second even on a machine that is busy serving. A part that cannot be read is
reported with an ``error`` instead of stopping the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from natoqa._version import __version__
from natoqa.cli.main import main, settings_of
from natoqa.config import Settings
from natoqa.errors import NatoqaError


def settings_report(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON values, by the name their variable carries after
    ``NATOQA_`` (``retrieval.sentence_weight`` as ``retrieval_sentence_weight``); pydantic
    masks every SecretStr as '**********'."""
    flat: dict[str, Any] = {}
    for name, value in settings.model_dump(mode="json").items():
        if isinstance(value, dict):  # a nested group (Settings.retrieval)
            flat.update({f"{name}_{key}": v for key, v in value.items()})
        else:
            flat[name] = value
    return flat


def model_dimensions(folder: Path) -> int | None:
    """Embedding dimensions stated by a sentence-transformers folder, without loading it."""
    candidates = [(folder / "1_Pooling" / "config.json", "word_embedding_dimension"),
                  (folder / "config.json", "hidden_size")]
    for path, key in candidates:
        try:
            value = json.loads(path.read_text("utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int):
            return value
    return None


def model_report(settings: Settings) -> dict[str, Any]:
    from natoqa.embed.base import resolve_model

    report: dict[str, Any] = {"name": settings.model, "backend": settings.backend,
                              "id": None, "path": None, "dimensions": None, "error": None}
    try:
        source, model_id = resolve_model(settings)
    except NatoqaError as exc:
        report["error"] = exc.message
        return report
    report["id"] = model_id
    report["path"] = source
    if Path(source).is_dir():
        report["dimensions"] = model_dimensions(Path(source))
    else:
        report["error"] = "a hub model: dimensions are known once it is loaded"
    return report


def index_report(settings: Settings) -> dict[str, Any]:
    from natoqa.index.store import IndexStore

    store = IndexStore(settings.index_dir)
    report: dict[str, Any] = {"dir": str(settings.index_dir), "version": None, "documents": None,
                              "passages": None, "model_id": None, "dim": None, "created": None,
                              "versions": 0, "error": None}
    try:
        report["versions"] = len(store.versions())
        manifest = store.manifest()
    except NatoqaError as exc:
        report["error"] = exc.message
        return report
    report.update(version=manifest.version, documents=len(manifest.documents),
                  passages=manifest.passage_count, model_id=manifest.model_id, dim=manifest.dim,
                  created=manifest.created)
    return report


def collect(settings: Settings) -> dict[str, Any]:
    return {
        "natoqa": __version__,
        "settings": settings_report(settings),
        "model": model_report(settings),
        "index": index_report(settings),
    }


def render_text(info: dict[str, Any]) -> str:
    """The report for people: settings as the environment variables that set them."""
    lines = [f"natoqa {info['natoqa']}", "", "settings (NATOQA_*; secrets masked):"]
    for name, value in info["settings"].items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"  NATOQA_{name.upper()}={shown}")
    model = info["model"]
    lines += ["", "model:"]
    lines += [f"  {key}: {'-' if model[key] is None else model[key]}"
              for key in ("name", "id", "path", "dimensions", "backend")]
    if model["error"]:
        lines.append(f"  error: {model['error']}")
    index = info["index"]
    lines += ["", "index:"]
    lines += [f"  {key}: {'-' if index[key] is None else index[key]}"
              for key in ("dir", "version", "documents", "passages", "model_id", "created",
                          "versions")]
    if index["error"]:
        lines.append(f"  error: {index['error']}")
    return "\n".join(lines)


@main.command()
@click.option("--index", "index", type=click.Path(path_type=Path),
              help="Index folder (default NATOQA_INDEX_DIR).")
@click.option("--corpus", "corpus", type=click.Path(path_type=Path),
              help="Source folder (default NATOQA_CORPUS_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def info(ctx: click.Context, index: Path | None, corpus: Path | None, as_json: bool) -> None:
    """Show the effective settings (secrets masked), the model and the index.

    \b
    Examples:
      natoqa info
      natoqa info --index /data/index --json
      NATOQA_INDEX_DIR=/data/index natoqa info --json
    """
    settings = settings_of(ctx)
    updates: dict[str, Any] = {}
    if index:
        updates["index_dir"] = index
    if corpus:
        updates["corpus_dir"] = corpus
    report = collect(settings.model_copy(update=updates))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(report))

