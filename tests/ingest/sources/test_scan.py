"""Scanning a corpus folder: documents load, bad files are skipped with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from natoqa.errors import CorpusError, SourceError
from natoqa.ingest.sources import load_file, scan_corpus
from natoqa.ingest.sources._io import MAX_BYTES
from tests.ingest.sources.conftest import THREE_PAGES, PdfMaker

GOOD = "Die NATO ist ein Verteidigungsbündnis. Sie wurde 1949 gegründet.\n"


def _reason(root: Path, name: str) -> str:
    with pytest.raises(SourceError) as info:
        load_file(root / name, root)
    assert name in info.value.path
    return info.value.reason


@pytest.fixture
def corpus(tmp_path: Path, make_pdf: PdfMaker) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    (root / "good.meta.toml").write_text('title = "Gut"\n', encoding="utf-8")
    make_pdf(root / "good.pdf", THREE_PAGES)
    (root / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    (root / "empty.md").write_bytes(b"")
    (root / "blank.txt").write_text(" \n\n\t\n", encoding="utf-8")
    (root / "latin1.txt").write_bytes("Verteidigungsausgaben für Europa".encode("latin-1"))
    make_pdf(root / "secret.pdf", THREE_PAGES, password="geheim")
    (root / "fake.pdf").write_bytes(b"this is not a pdf at all")
    with (root / "huge.txt").open("wb") as fh:  # sparse: costs no disk, never read
        fh.truncate(MAX_BYTES + 1)
    (root / "notes.docx").write_bytes(b"PK\x03\x04")
    (root / ".hidden.txt").write_text(GOOD, encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD.txt").write_text(GOOD, encoding="utf-8")
    return root


def test_scan_skips_bad_files_and_loads_the_rest(corpus: Path) -> None:
    scan = scan_corpus(corpus)
    assert sorted(d.doc_id for d in scan.documents) == ["good.pdf", "good.txt"]
    skipped = {Path(e.path).name: e.reason for e in scan.skipped}
    assert set(skipped) == {
        "binary.txt",
        "empty.md",
        "blank.txt",
        "latin1.txt",
        "secret.pdf",
        "fake.pdf",
        "huge.txt",
        "notes.docx",
    }
    assert "binary" in skipped["binary.txt"]
    assert "empty" in skipped["empty.md"] and "empty" in skipped["blank.txt"]
    assert "UTF-8" in skipped["latin1.txt"]
    assert "encrypted" in skipped["secret.pdf"]
    assert "not a PDF" in skipped["fake.pdf"]
    assert "too large" in skipped["huge.txt"]
    assert "unsupported" in skipped["notes.docx"]


def test_sidecar_is_metadata_not_a_document(corpus: Path) -> None:
    scan = scan_corpus(corpus)
    good = next(d for d in scan.documents if d.doc_id == "good.txt")
    assert good.meta["title"] == "Gut"
    assert not any(d.doc_id.endswith(".meta.toml") for d in scan.documents)


def test_invalid_sidecar_is_a_source_error(corpus: Path) -> None:
    (corpus / "good.meta.toml").write_text("title = \n", encoding="utf-8")
    assert "sidecar" in _reason(corpus, "good.txt")


def test_invalid_front_matter_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("---\ntitle: [unclosed\n---\nText.\n", encoding="utf-8")
    assert "front matter" in _reason(tmp_path, "x.md")


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        scan_corpus(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text(GOOD, encoding="utf-8")
    with pytest.raises(CorpusError, match="not a folder"):
        scan_corpus(tmp_path / "file.txt")


def test_no_usable_document(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "x.meta.toml").write_text('title = "x"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="no usable document"):
        scan_corpus(tmp_path)


def test_bundled_corpus_loads() -> None:
    root = Path(__file__).resolve().parents[3] / "corpus"
    scan = scan_corpus(root)
    assert scan.skipped == []
    assert {d.doc_id for d in scan.documents} >= {
        "000_1806e3d119a3e492.txt",
        "002_7ab4b17f7a80dd35.txt",
    }


def test_links_out_of_the_corpus_and_odd_entries_are_skipped_with_a_reason(
    tmp_path: Path,
) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    secret = tmp_path / "secret.txt"  # outside the corpus, like /etc/passwd
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" + GOOD, encoding="utf-8")
    (root / "passwd.txt").symlink_to(secret)
    (root / "outside").symlink_to(tmp_path)  # a folder link out: not walked
    (root / "inner.txt").symlink_to(root / "good.txt")  # a link within: loaded
    (root / "dangling.txt").symlink_to(root / "nowhere.txt")
    os.mkfifo(root / "pipe.txt")
    (root / "folder.txt").mkdir()
    (root / "sub").mkdir()  # an ordinary folder: walked, not reported
    (root / "sub" / "nested.md").write_text(GOOD, encoding="utf-8")
    (root / "sub" / "nested.meta.toml").symlink_to(secret)  # metadata from outside

    scan = scan_corpus(root)

    assert sorted(d.doc_id for d in scan.documents) == ["good.txt", "inner.txt"]
    assert not any("root:x" in page for d in scan.documents for page in d.pages)
    skipped = {Path(e.path).name: e.reason for e in scan.skipped}
    assert set(skipped) == {
        "passwd.txt", "outside", "dangling.txt", "pipe.txt", "folder.txt", "nested.md"
    }
    assert "outside the corpus" in skipped["passwd.txt"]
    assert "outside the corpus" in skipped["outside"]
    assert "outside the corpus" in skipped["nested.md"]  # its sidecar is the link
    assert "dangling" in skipped["dangling.txt"]
    assert "not a regular file" in skipped["pipe.txt"]
    assert "folder" in skipped["folder.txt"]
    # and loading a link directly is refused too
    assert "outside the corpus" in _reason(root, "passwd.txt")


def test_listing_never_walks_hidden_folders_and_survives_a_folder_that_vanishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload's temporary folder may be removed while the corpus is listed (it gave
    a 500 on GET /api/v1/admin/documents during ten parallel uploads)."""
    from natoqa.ingest.sources.corpus import candidate_files

    (tmp_path / "a.txt").write_text("Text.", encoding="utf-8")
    (tmp_path / ".upload-1").mkdir()
    (tmp_path / ".upload-1" / "b.txt").write_text("Text.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("Text.", encoding="utf-8")
    walked: list[str] = []
    real = os.scandir

    def scandir(path: str | Path) -> object:
        walked.append(Path(path).name)
        if Path(path).name == "sub":
            raise FileNotFoundError(path)  # gone between its parent's listing and its own
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert candidate_files(tmp_path) == [tmp_path / "a.txt"]
    assert ".upload-1" not in walked


def test_a_scan_parses_only_the_files_whose_hash_it_does_not_know(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from natoqa.ingest.sources import corpus as corpus_mod

    root = tmp_path / "c"
    root.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (root / name).write_text(GOOD + name, encoding="utf-8")
    first = scan_corpus(root)
    known = {raw.doc_id: raw.content_hash for raw in first.documents}
    (root / "b.txt").write_text(GOOD + "geändert", encoding="utf-8")
    (root / "c.meta.toml").write_text('title = "Neu"\n', encoding="utf-8")  # a sidecar edit
    parsed: list[str] = []
    parse = corpus_mod._parse

    def counted(path: Path, *args: object) -> object:
        parsed.append(path.name)
        return parse(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(corpus_mod, "_parse", counted)
    again = scan_corpus(root, known)
    assert sorted(parsed) == ["b.txt", "c.txt"]
    assert again.unchanged == ["a.txt"]
    assert [raw.doc_id for raw in again.documents] == ["b.txt", "c.txt"]
    assert again.documents[1].meta["title"] == "Neu"


def test_a_scan_can_go_one_document_at_a_time(tmp_path: Path) -> None:
    """``iter_corpus`` parses a file only when the caller asks for the next document: a
    build holds one document's text, not the corpus's."""
    from natoqa.ingest.sources import CorpusScan, iter_corpus

    for i in range(3):
        (tmp_path / f"doc{i}.txt").write_text(f"Dokument {i} über die Ostflanke.", "utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"not a pdf")
    scan = CorpusScan()
    documents = iter_corpus(tmp_path, None, scan)
    first = next(documents)
    assert first.doc_id == "doc0.txt" and scan.skipped  # broken.pdf comes first
    (tmp_path / "doc2.txt").write_text("Geändert, bevor die Suche hier ankam.", "utf-8")
    rest = list(documents)
    assert [d.doc_id for d in [first, *rest]] == ["doc0.txt", "doc1.txt", "doc2.txt"]
    assert "Geändert" in rest[-1].pages[0]  # read when it was reached, not at the start
    assert [Path(e.path).name for e in scan.skipped] == ["broken.pdf"]
    assert scan.documents == []


def test_a_scan_one_document_at_a_time_refuses_a_corpus_without_one(tmp_path: Path) -> None:
    from natoqa.ingest.sources import CorpusScan, iter_corpus

    (tmp_path / "broken.pdf").write_bytes(b"not a pdf")
    with pytest.raises(CorpusError, match="no usable document"):
        list(iter_corpus(tmp_path, None, CorpusScan()))
