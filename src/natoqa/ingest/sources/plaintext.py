"""Plain text and Markdown loader: UTF-8 text, optional YAML/TOML front matter."""

from __future__ import annotations

from pathlib import Path

from natoqa.ingest.sources._io import decode_text
from natoqa.ingest.sources.meta import split_front_matter


def load_text(path: Path, data: bytes) -> tuple[str, dict[str, object]]:
    """``(text without front matter, front-matter metadata)``."""
    meta, text = split_front_matter(path, decode_text(path, data))
    return text, meta
