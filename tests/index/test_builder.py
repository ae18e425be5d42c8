"""Incremental, locked, atomic builds with the real model over small corpora."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from natoqa.embed.base import Embedder, Kind
from natoqa.errors import CorpusError, IndexLocked, IndexNotFound, IndexStoreError
from natoqa.index import store as store_mod
from natoqa.index.builder import BuildReport, build_index, build_lock, rollback
from natoqa.index.store import IndexStore
from tests.fakes import Wrapping

pytestmark = pytest.mark.slow

TOPICS = ["Abschreckung", "Ostflanke", "Rüstung", "Cyberabwehr", "Bündnisfall", "Haushalt"]


def doc_text(i: int, extra: str = "") -> str:
    topic = TOPICS[i % len(TOPICS)]
    return (
        f"---\ntitle: Dokument {i} über {topic}\nlanguage: de\n---\n\n"
        f"Dokument {i} behandelt das Thema {topic} im Jahr {1990 + i}. "
        f"Die Mitgliedstaaten beraten über {topic} und vereinbaren Maßnahme Nummer {i}. "
        f"{extra}\n"
    )


def make_corpus(root: Path, n: int, start: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (root / f"doc{i:03d}.txt").write_text(doc_text(i), encoding="utf-8")
    return root


@pytest.fixture
def rec(embedder: Embedder) -> Wrapping:
    return Wrapping(embedder)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return make_corpus(tmp_path / "corpus", 4), tmp_path / "index"


def build(dirs: tuple[Path, Path], embedder: Embedder, **kw: object) -> BuildReport:
    return build_index(dirs[0], dirs[1], embedder, **kw)  # type: ignore[arg-type]


def embedded_only(recorded: list[str], passages: list[str]) -> None:
    """Exactly these passages were embedded, and nothing outside them (their sentences)."""
    assert set(passages) <= set(recorded)
    assert all(any(t in p for p in passages) for t in recorded), recorded


def texts_of(index: Path) -> dict[str, list[str]]:
    loaded = IndexStore(index).load()
    out: dict[str, list[str]] = {}
    for p in loaded.passages:
        out.setdefault(p.doc_id, []).append(p.text)
    return out


def test_first_build_embeds_everything(dirs: tuple[Path, Path], rec: Wrapping) -> None:
    report = build(dirs, rec)
    assert report.full_rebuild == "no previous index"
    assert report.added == [f"doc{i:03d}.txt" for i in range(4)]
    assert report.passages_embedded == report.passages == 4
    embedded_only(rec.embedded, [t for ts in texts_of(dirs[1]).values() for t in ts])
    assert IndexStore(dirs[1]).current() == report.version
    summary = report.to_dict()
    assert summary["documents_added"] == 4 and summary["documents_unchanged"] == 0
    assert {"version", "passages_embedded", "passages_reused", "seconds"} <= set(summary)


def test_adding_a_document_embeds_only_its_passages(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    first = build(dirs, rec)
    rec.embedded.clear()
    (dirs[0] / "neu.txt").write_text(doc_text(9), encoding="utf-8")
    report = build(dirs, rec)
    assert report.added == ["neu.txt"] and not report.changed and not report.removed
    assert len(report.unchanged) == 4 and report.full_rebuild is None
    embedded_only(rec.embedded, texts_of(dirs[1])["neu.txt"])
    assert (report.passages_embedded, report.passages_reused) == (1, 4)
    assert report.previous_version == first.version != report.version


def test_changing_a_document_re_embeds_only_the_change(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    build(dirs, rec)
    rec.embedded.clear()
    (dirs[0] / "doc001.txt").write_text(doc_text(1, "Ein neuer Satz zur Lage."), "utf-8")
    report = build(dirs, rec)
    assert report.changed == ["doc001.txt"] and not report.added and not report.removed
    (new_text,) = texts_of(dirs[1])["doc001.txt"]  # the old text is gone
    assert "Ein neuer Satz zur Lage." in new_text and report.passages_embedded == 1
    embedded_only(rec.embedded, [new_text])
    # its unchanged first sentence kept its vector
    assert not any(t.startswith("Dokument 1 behandelt") and t != new_text for t in rec.embedded)


def test_a_metadata_only_change_reuses_every_vector(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    build(dirs, rec)
    rec.embedded.clear()
    (dirs[0] / "doc002.meta.toml").write_text('title = "Neuer Titel"\n', encoding="utf-8")
    report = build(dirs, rec)
    assert report.changed == ["doc002.txt"] and report.passages_embedded == 0
    assert IndexStore(dirs[1]).load().documents["doc002.txt"].meta.title == "Neuer Titel"


def test_removing_a_document_embeds_nothing(dirs: tuple[Path, Path], rec: Wrapping) -> None:
    build(dirs, rec)
    rec.embedded.clear()
    (dirs[0] / "doc003.txt").unlink()
    report = build(dirs, rec)
    assert report.removed == ["doc003.txt"] and report.passages_embedded == 0
    assert "doc003.txt" not in texts_of(dirs[1]) and report.passages == 3


def test_renaming_is_remove_plus_add_with_vectors_reused(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    build(dirs, rec)
    rec.embedded.clear()
    (dirs[0] / "doc000.txt").rename(dirs[0] / "umbenannt.txt")
    report = build(dirs, rec)
    assert report.removed == ["doc000.txt"] and report.added == ["umbenannt.txt"]
    assert report.passages_embedded == 0 and rec.embedded == []
    loaded = IndexStore(dirs[1]).load()
    assert {p.doc_id for p in loaded.passages} == {"umbenannt.txt", "doc001.txt",
                                                  "doc002.txt", "doc003.txt"}


def test_nothing_changed_writes_no_version_unless_forced(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    first = build(dirs, rec)
    again = build(dirs, rec)
    assert not again.switched and again.version == first.version
    assert IndexStore(dirs[1]).versions() == [first.version]
    forced = build(dirs, rec, force=True)
    assert forced.switched and forced.passages_embedded == 0
    assert IndexStore(dirs[1]).current() == forced.version


def test_a_model_change_forces_a_full_rebuild(
    dirs: tuple[Path, Path], embedder: Embedder
) -> None:
    build(dirs, embedder)
    other = Wrapping(embedder, model_id="another-model")
    report = build(dirs, other)
    assert report.full_rebuild and "model changed" in report.full_rebuild
    assert "another-model" in report.full_rebuild
    assert report.passages_embedded == 4
    embedded_only(other.embedded, [t for ts in texts_of(dirs[1]).values() for t in ts])
    assert len(other.embedded) > 4  # the sentence units were re-embedded too


def test_a_passage_settings_change_forces_a_full_rebuild(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    build(dirs, rec)
    report = build(dirs, rec, max_words=150)
    assert report.full_rebuild == "passage settings changed (max_words): re-embedding everything"
    assert report.passages_embedded == report.passages


def test_a_corrupt_current_version_is_rebuilt_fully(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    first = build(dirs, rec)
    folder = dirs[1] / "versions" / first.version
    next(folder.glob("segments/*/passages.jsonl")).write_text("kaputt\n")
    report = build(dirs, rec, force=True)
    assert report.full_rebuild and "unusable" in report.full_rebuild
    assert IndexStore(dirs[1]).load().version == report.version


def test_prune_keeps_the_configured_number(dirs: tuple[Path, Path], rec: Wrapping) -> None:
    versions = [build(dirs, rec, force=True, keep_versions=2).version for _ in range(4)]
    assert IndexStore(dirs[1]).versions() == versions[-2:]


def test_rollback_goes_back_one_version_and_next_build_starts_there(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    first = build(dirs, rec)
    (dirs[0] / "neu.txt").write_text(doc_text(7), encoding="utf-8")
    second = build(dirs, rec)
    assert rollback(dirs[1]) == first.version
    assert IndexStore(dirs[1]).current() == first.version
    with pytest.raises(IndexNotFound, match="no version older"):
        rollback(dirs[1])
    again = build(dirs, rec)  # compared with the rolled-back version: neu.txt is new again
    assert again.added == ["neu.txt"] and again.previous_version == first.version
    assert rollback(dirs[1], second.version) == second.version


# --- bad corpora and index folders ---------------------------------------------------


def test_missing_corpus_is_a_clear_error_and_creates_nothing(
    tmp_path: Path, rec: Wrapping
) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        build_index(tmp_path / "nope", tmp_path / "index", rec)
    assert not (tmp_path / "index").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(CorpusError, match="not a folder"):
        build_index(tmp_path / "file", tmp_path / "index", rec)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no usable document"):
        build_index(tmp_path / "empty", tmp_path / "index", rec)


def test_read_only_corpus_builds(dirs: tuple[Path, Path], rec: Wrapping) -> None:
    for f in dirs[0].iterdir():
        f.chmod(0o444)
    dirs[0].chmod(0o555)
    try:
        assert build(dirs, rec).documents == 4
    finally:
        dirs[0].chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_corpus_is_a_clear_error(dirs: tuple[Path, Path], rec: Wrapping) -> None:
    dirs[0].chmod(0)
    try:
        with pytest.raises(CorpusError, match="not readable"):
            build(dirs, rec)
    finally:
        dirs[0].chmod(0o755)


def test_unwritable_index_folder_is_a_clear_error(
    dirs: tuple[Path, Path], rec: Wrapping, tmp_path: Path
) -> None:
    (tmp_path / "plainfile").write_text("x")
    with pytest.raises(IndexStoreError, match="cannot write to the index folder"):
        build_index(dirs[0], tmp_path / "plainfile" / "index", rec)


# --- interruptions and concurrency -----------------------------------------------------


def test_ctrl_c_while_embedding_leaves_the_index_and_lock_as_they_were(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    first = build(dirs, rec)
    (dirs[0] / "neu.txt").write_text(doc_text(8), encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        build(dirs, Wrapping(rec.inner, raises=KeyboardInterrupt()))
    store = IndexStore(dirs[1])
    assert store.current() == first.version and store.versions() == [first.version]
    with build_lock(dirs[1]):  # released: acquiring it does not time out
        pass
    assert build(dirs, rec).added == ["neu.txt"]


def test_ctrl_c_between_write_and_switch_removes_the_new_version(
    dirs: tuple[Path, Path], rec: Wrapping, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(dirs, rec)

    def interrupted(self: IndexStore, version: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store_mod.IndexStore, "activate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(dirs, rec, force=True)
    monkeypatch.undo()
    store = IndexStore(dirs[1])
    assert store.current() == first.version and store.versions() == [first.version]
    assert not list(store.versions_dir.glob(".tmp-*"))


def start_cli_build(corpus: Path, index: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "natoqa", "build", "--corpus", str(corpus), "--index", str(index)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_embedding(proc: subprocess.Popen[str], timeout: float = 180) -> list[str]:
    """Read the build's (plain, not a terminal) log lines until embedding has started."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError("build ended before embedding:\n" + "".join(lines))
        lines.append(line)
        if "embedded 0/" in line:
            return lines
    raise AssertionError("embedding did not start in time")


def test_a_build_killed_while_embedding_leaves_the_current_index_usable(
    tmp_path: Path, rec: Wrapping
) -> None:
    corpus, index = make_corpus(tmp_path / "corpus", 2), tmp_path / "index"
    first = build_index(corpus, index, rec)
    make_corpus(corpus, 40, start=100)  # enough new passages that embedding takes a while
    proc = start_cli_build(corpus, index)
    wait_for_embedding(proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL  # it was killed, it did not finish
    store = IndexStore(index)
    assert store.current() == first.version and store.versions() == [first.version]
    assert len(store.load(expect_model=rec.model_id)) == 2
    report = build_index(corpus, index, rec)  # the lock died with the process
    assert report.previous_version == first.version and len(report.added) == 40


def test_two_builds_at_once_fail_fast_or_wait_never_mix(tmp_path: Path, rec: Wrapping) -> None:
    import threading

    class Held(Wrapping):
        """Embeds only once the test lets it: the build holds the lock meanwhile."""

        def __init__(self, inner: Embedder) -> None:
            super().__init__(inner)
            self.entered, self.gate = threading.Event(), threading.Event()

        def _called(self, texts: Sequence[str], kind: Kind) -> None:
            self.entered.set()
            assert self.gate.wait(120)
            super()._called(texts, kind)

    corpus, index = make_corpus(tmp_path / "corpus", 2), tmp_path / "index"
    build_index(corpus, index, rec)
    make_corpus(corpus, 30, start=200)
    held = Held(rec.inner)
    first: list[BuildReport] = []
    thread = threading.Thread(target=lambda: first.append(build_index(corpus, index, held)))
    thread.start()
    try:
        assert held.entered.wait(60)
        t = time.monotonic()
        with pytest.raises(IndexLocked, match="another build is running"):
            build_index(corpus, index, rec)
        assert time.monotonic() - t < 5  # fails at once, does not hang
        # a second CLI build says so plainly and exits 1 (checked before loading the model)
        second = subprocess.run(
            [sys.executable, "-m", "natoqa", "build", "--corpus", str(corpus),
             "--index", str(index)],
            env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert "natoqa: error: another build is running" in second.stderr
        assert "Traceback" not in second.stderr
        held.gate.set()
        waited = build_index(corpus, index, rec, lock_timeout=300)  # waits for the first
    finally:
        held.gate.set()
        thread.join(timeout=300)
    store = IndexStore(index)
    # the waiting build started from the other build's result: nothing embedded twice
    assert not waited.switched and waited.version == first[0].version == store.current()
    assert len(store.load()) == 32


def test_latent_terms_are_added_to_an_older_index_and_then_reused(
    dirs: tuple[Path, Path], rec: Wrapping, embedder: Embedder
) -> None:
    from natoqa.index import units as sentence_vectors

    first = build(dirs, rec)  # Wrapping has no latent terms: an index without them
    assert sentence_vectors.TERM_IDS_FILE not in IndexStore(dirs[1]).load().extras
    assert embedder.has_terms
    upgraded = build(dirs, embedder)  # no document changed, yet a new version is due
    assert upgraded.switched and upgraded.version != first.version
    assert upgraded.passages_embedded == 0  # passage vectors reused; only units re-run
    loaded = IndexStore(dirs[1]).load()
    terms = sentence_vectors.load_terms(loaded.extras, len(loaded.extras["sentence_rows.npy"]))
    assert terms is not None and (terms.weights.max(axis=1) > 0).all()
    # stored narrow (half the bytes to read per candidate), and opened as stored, not copied
    assert terms.ids.dtype == np.int16 and terms.weights.dtype == np.float32
    assert isinstance(terms.ids, np.memmap) and isinstance(terms.weights, np.memmap)
    assert not build(dirs, embedder).switched  # now up to date
    # a changed document: the other documents' units keep their stored terms exactly
    doc = dirs[0] / "doc000.txt"
    doc.write_text(doc_text(0, "Ein neuer Satz über die Ostflanke kommt hinzu."), "utf-8")
    build(dirs, embedder)
    after = IndexStore(dirs[1]).load()
    old = sentence_vectors.reusable_from(loaded.passages, loaded.extras, embedder.dim)
    new = {text: unit for segment in after.segments for text, unit in
           sentence_vectors.reusable_from(segment.passages, segment.extras,
                                          embedder.dim).items()}
    kept = [t for t in new if t in old and "Ostflanke" not in t]
    assert kept
    for text in kept:
        assert np.array_equal(new[text].term_ids, old[text].term_ids)  # type: ignore[arg-type]


def test_other_unit_rules_re_embed_every_unit_but_no_passage(
    dirs: tuple[Path, Path], rec: Wrapping
) -> None:
    import json

    from natoqa.index import units as sentence_vectors

    first = build(dirs, rec)
    store = IndexStore(dirs[1])
    assert store.manifest().unit_rules == sentence_vectors.RULES
    # the version as a build with other (or unrecorded) unit rules would have left it
    manifest = store.versions_dir / first.version / "manifest.json"
    data = json.loads(manifest.read_text("utf-8"))
    manifest.write_text(json.dumps(data | {"unit_rules": 0}), "utf-8")
    rec.embedded.clear()
    second = build(dirs, rec)  # no document changed, yet a new version is due
    assert second.switched and second.passages_embedded == 0
    loaded = store.load()
    assert loaded.manifest.unit_rules == sentence_vectors.RULES
    units = {u for p in loaded.passages for u in sentence_vectors.units(p.text)}
    assert units and set(rec.embedded) == units  # every unit again, no passage
    rec.embedded.clear()
    assert not build(dirs, rec).switched and not rec.embedded


def test_an_interrupted_build_resumes_without_embedding_again(
    dirs: tuple[Path, Path], embedder: Embedder
) -> None:
    """Ctrl-C while the sentence units are embedded: the next build embeds none of the
    passages again, and the cache is gone once a build succeeds."""
    from natoqa.index.builder import EMBED_CACHE

    first = Wrapping(embedder, terms=True)

    def interrupt(phase: str, done: int, total: int) -> None:
        if phase == "sentences" and done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(dirs, first, progress=interrupt)
    assert (dirs[1] / EMBED_CACHE).is_file() and IndexStore(dirs[1]).current() is None
    second = Wrapping(embedder, terms=True)
    report = build(dirs, second)
    passages = [t for texts in texts_of(dirs[1]).values() for t in texts]
    assert set(passages) <= set(first.embedded)
    assert not set(passages) & set(second.embedded)  # resumed, not embedded again
    assert report.texts_resumed >= len(passages)
    assert not (dirs[1] / EMBED_CACHE).exists()
    # the same vectors as a build that was never interrupted
    fresh = dirs[1].parent / "fresh"
    build_index(dirs[0], fresh, Wrapping(embedder, terms=True))
    a, b = IndexStore(dirs[1]).load(), IndexStore(fresh).load()
    assert np.allclose(a.vectors, b.vectors, atol=1e-6)
    assert np.allclose(a.extras["sentence_vectors.npy"], b.extras["sentence_vectors.npy"],
                       atol=1e-6)


def test_pooled_units_are_stored_and_a_change_of_mode_re_embeds_them(
    dirs: tuple[Path, Path], embedder: Embedder
) -> None:
    from natoqa.index import units as sentence_vectors

    rec = Wrapping(embedder, terms=True)
    first = build(dirs, rec, unit_vectors="pooled")
    store = IndexStore(dirs[1])
    loaded = store.load()
    assert loaded.manifest.unit_vectors == "pooled"
    passages = [p.text for p in loaded.passages]
    units = [u for p in passages for u in sentence_vectors.units(p)]
    vectors, rows = sentence_vectors.load(loaded.extras, len(passages), embedder.dim)
    assert len(units) > 4 and len(vectors) == len(units)
    # one pass per passage, for its units and its own vector: no unit text was embedded
    assert set(rec.embedded) == set(passages) and len(rec.embedded) == len(passages)
    assert first.passages_embedded == len(passages)
    whole = embedder.embed_batch(passages, kind="passage")
    stored = np.stack([loaded.vectors_by_text()[p] for p in passages])
    assert (stored * whole).sum(axis=1).min() > 0.9999
    alone = embedder.embed_batch(units, kind="passage")
    cos = (vectors * alone).sum(axis=1)
    assert cos.min() > 0.75 and cos.max() < 0.9999  # pooled, close to the units alone
    terms = sentence_vectors.load_terms(loaded.extras, len(rows))
    assert terms is not None and (terms.weights.max(axis=1) > 0).all()

    rec.embedded.clear()
    assert not build(dirs, rec, unit_vectors="pooled").switched and not rec.embedded
    # separate: a new version although no document changed; every unit again, no passage
    second = build(dirs, rec)
    assert second.switched and second.passages_embedded == 0
    assert store.manifest().unit_vectors == "separate"
    assert set(rec.embedded) == set(units)
    separate, _ = sentence_vectors.load(store.load().extras, len(passages), embedder.dim)
    assert (separate * alone).sum(axis=1).min() > 0.9999
    # and back: pooled again, passage by passage
    rec.embedded.clear()
    third = build(dirs, rec, unit_vectors="pooled")
    assert third.switched and set(rec.embedded) == set(passages)
    again, _ = sentence_vectors.load(store.load().extras, len(passages), embedder.dim)
    assert np.allclose(again, vectors, atol=1e-5)

    # a changed document: only its passages run; the others' pooled units are kept exactly
    rec.embedded.clear()
    doc = dirs[0] / "doc000.txt"
    doc.write_text(doc_text(0, "Ein neuer Satz über die Ostflanke kommt hinzu."), "utf-8")
    build(dirs, rec, unit_vectors="pooled")
    after = store.load()
    assert rec.embedded and all("Ostflanke" in text for text in rec.embedded)
    old = sentence_vectors.reusable_from(loaded.passages, loaded.extras, embedder.dim, "pooled")
    new = {k: v for segment in after.segments for k, v in sentence_vectors.reusable_from(
        segment.passages, segment.extras, embedder.dim, "pooled").items()}
    kept = set(old) & set(new)
    assert kept and len(kept) < len(new)
    for key in kept:
        assert np.array_equal(new[key].vector, old[key].vector)


def test_the_back_matter_is_indexed(tmp_path: Path, rec: Wrapping) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    note = "Dr. Erika Muster ist Politikwissenschaftlerin am Institut in Bonn."
    (corpus / "doc.txt").write_text(
        doc_text(0) + f"\nÜber die Autoren\n\n{note}\n", encoding="utf-8"
    )
    build_index(corpus, tmp_path / "index", rec)
    passages = IndexStore(tmp_path / "index").load().passages
    # with its heading: a question about "the authors" finds a note that never says so
    assert [p.text for p in passages if p.kind == "backmatter"] == [f"Über die Autoren\n\n{note}"]
    assert all(note not in p.text for p in passages if p.kind != "backmatter")


def test_unit_vectors_are_written_as_embedded_and_moved_into_their_segment(
    dirs: tuple[Path, Path], embedder: Embedder
) -> None:
    """The build does not hold a segment's unit vectors: they go to a file as they are
    embedded (natoqa.index.spill), which becomes the segment's, leaving nothing behind."""
    from natoqa.index import units as sentence_vectors
    from natoqa.index.spill import SPILL_DIR

    build(dirs, embedder)
    (dirs[0] / "doc009.txt").write_text(doc_text(9, "Ein weiterer Satz hier."), "utf-8")
    build(dirs, embedder)  # an incremental build: a second segment
    assert not list(dirs[1].rglob(SPILL_DIR))
    version = IndexStore(dirs[1]).load()
    assert len(version.segments) == 2
    for segment in version.segments:
        stored = np.asarray(segment.extras[sentence_vectors.VECTORS_FILE])
        rows = np.asarray(segment.extras[sentence_vectors.ROWS_FILE])
        texts = [span.text(p.text) for p in segment.passages
                 for span in sentence_vectors.unit_spans(p.text)]
        assert len(stored) == len(texts) == len(rows) > 0
        assert np.allclose(stored, embedder.embed_batch(texts, kind="passage"), atol=1e-4)


def test_a_build_writes_passages_as_it_splits_documents_and_removes_them_after(
    dirs: tuple[Path, Path], embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build holds no document but the one it splits: each document's passages are in
    the build's passage file before the next document is read, and the file goes when the
    build ends, well or not."""
    from natoqa.index import builder
    from natoqa.index.passage_file import PassageFile
    from natoqa.ingest.sources import iter_corpus

    spill = dirs[1] / builder.PASSAGE_SPILL
    events: list[str] = []
    scan, add = iter_corpus, PassageFile.add

    def watched(*args: object) -> object:
        for document in scan(*args):  # type: ignore[arg-type]
            events.append("read")
            yield document

    def added(self: object, passages: object) -> None:
        events.append("written")
        add(self, passages)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, "iter_corpus", watched)
    monkeypatch.setattr(PassageFile, "add", added)
    first = build(dirs, embedder)
    assert first.documents == 4 and events == ["read", "written"] * 4
    assert not spill.exists()
    (dirs[0] / "neu.txt").write_text(doc_text(8), encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        build(dirs, Wrapping(embedder, raises=KeyboardInterrupt()))
    assert not spill.exists()
    assert build(dirs, embedder).added == ["neu.txt"]
