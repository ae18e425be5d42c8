"""Document metadata from a TOML sidecar or front matter, normalised to plain values."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from natoqa.errors import SourceError

#: The metadata fields natoqa knows; anything else in a sidecar is ignored.
FIELDS = ("title", "authors", "date", "publisher", "url", "language", "kind", "series")

_FRONT_MATTER = re.compile(
    r"\A\ufeff?(?P<fence>---|\+\+\+)[ \t]*\r?\n(?P<body>.*?)\r?\n(?P=fence)[ \t]*(?:\r?\n|\Z)",
    re.DOTALL,
)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def normalise(raw: dict[str, Any]) -> dict[str, object]:
    """Keep the known fields; ``authors`` becomes a tuple of names, the rest strings."""
    meta: dict[str, object] = {}
    for key in FIELDS:
        if key not in raw:
            continue
        value = raw[key]
        if key == "authors":
            items = [value] if isinstance(value, str) else list(value or [])
            names = tuple(n for n in (_as_text(i) for i in items) if n)
            if names:
                meta[key] = names
        elif (text := _as_text(value)) is not None:
            meta[key] = text
    if "author" in raw and "authors" not in meta and (name := _as_text(raw["author"])):
        meta["authors"] = (name,)
    return meta


def parse_sidecar(path: Path, data: bytes) -> dict[str, object]:
    """Metadata from sidecar bytes (``b""`` → no metadata)."""
    if not data:
        return {}
    try:
        return normalise(tomllib.loads(data.decode("utf-8-sig")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SourceError(str(path), f"invalid metadata sidecar: {exc}") from None


def split_front_matter(path: Path, text: str) -> tuple[dict[str, object], str]:
    """``(metadata, rest)`` for text opening with YAML (``---``) or TOML (``+++``) front matter."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    body = match.group("body")
    try:
        data: object = (
            yaml.safe_load(body) if match.group("fence") == "---" else tomllib.loads(body)
        )
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise SourceError(str(path), f"invalid front matter: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SourceError(str(path), "invalid front matter: not a mapping")
    return normalise(data), text[match.end() :]
