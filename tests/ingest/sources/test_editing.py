"""Putting documents into the corpus folder (natoqa.ingest.sources.editing), without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from natoqa.config import load_settings
from natoqa.errors import ConfigError
from natoqa.ingest.sources import scan_corpus
from natoqa.ingest.sources.editing import (
    InvalidDocument,
    UnsupportedType,
    check_doc_id,
    commit,
    remove,
    render_sidecar,
    staged,
    suffix_for,
)
from natoqa.ingest.sources.meta import parse_sidecar

TEXT = "Die Allianz prüft neue Wege der Zusammenarbeit im Norden. " * 12


@pytest.mark.parametrize("doc_id", ["a/b", "a\\b", "..", "a..b", ".hidden", "", "x" * 101,
                                    "name.meta", "mit leerzeichen", "ümlaut"])
def test_bad_doc_ids_are_refused(doc_id: str) -> None:
    with pytest.raises(InvalidDocument):
        check_doc_id(doc_id)


@pytest.mark.parametrize("doc_id", ["fes-2025", "Studie_1", "report.v2", "0"])
def test_plain_names_are_doc_ids(doc_id: str) -> None:
    assert check_doc_id(doc_id) == doc_id


def test_suffix_from_the_media_type_or_a_pdf_header() -> None:
    assert suffix_for("application/pdf", b"") == ".pdf"
    assert suffix_for("text/markdown; charset=utf-8", b"") == ".md"
    assert suffix_for("application/octet-stream", b"%PDF-1.7") == ".pdf"
    assert suffix_for(None, b"%PDF-1.4") == ".pdf"
    with pytest.raises(UnsupportedType):
        suffix_for("image/png", b"\x89PNG")
    with pytest.raises(UnsupportedType):
        suffix_for(None, b"just text")


def test_sidecar_round_trips_through_the_builds_reader() -> None:
    meta = {"title": 'Sicherheit "neu" denken\\n', "authors": ["Ä. Müller", "B. O'Neil"],
            "date": "2025-06", "url": "https://example.org/a?b=1", "language": "de"}
    parsed = parse_sidecar(Path("x.meta.toml"), render_sidecar(meta))
    assert parsed == {**meta, "authors": tuple(meta["authors"])}


def test_staged_upload_is_put_in_place_and_removed_without_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "notiz.txt").write_text(TEXT, encoding="utf-8")  # the same name in another format
    with staged(root, "notiz", ".md", TEXT.encode(), {"title": "Notiz"}) as item:
        assert item.passages >= 1
        assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
            "notiz.txt"]
        commit(root, item)
    assert sorted(p.name for p in root.iterdir()) == ["notiz.md", "notiz.meta.toml"]
    scan = scan_corpus(root)
    assert [(d.doc_id, d.meta["title"]) for d in scan.documents] == [("notiz.md", "Notiz")]
    assert remove(root, "notiz") is True
    assert list(root.iterdir()) == []
    assert remove(root, "notiz") is False


def test_refused_upload_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidDocument, match="not valid UTF-8"), \
            staged(tmp_path, "kaputt", ".txt", b"\xff\xfe" + TEXT.encode("latin-1"), {}):
        pass
    assert list(tmp_path.iterdir()) == []


def test_documents_tokens_are_named_and_strong() -> None:
    tokens = load_settings(documents_tokens="cms:0123456789abcdef,wiki:fedcba9876543210")
    assert set(tokens.documents_tokens) == {"cms", "wiki"}
    assert load_settings(documents_tokens='{"cms": "0123456789abcdef"}').documents_tokens
    for bad in ("cms:short", "admin:0123456789abcdef", "no-name", "b@d:0123456789abcdef"):
        with pytest.raises(ConfigError, match="NATOQA_DOCUMENTS_TOKENS"):
            load_settings(documents_tokens=bad)
