"""The versioned index store: write, verify, switch, prune (real FAISS, small vectors)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from natoqa.errors import IndexCorrupt, IndexIncompatible, IndexNotFound, IndexStoreError
from natoqa.index.segments import PASSAGE_VECTORS, PASSAGES
from natoqa.index.store import (
    CURRENT,
    DOCUMENTS,
    MANIFEST,
    DocumentRecord,
    IndexStore,
    Manifest,
    new_version_name,
    utc_now,
)
from natoqa.models import DocumentMeta, Passage

DIM = 8


def key(store: IndexStore, version: str, name: str) -> str:
    """Where a file of the version's (only) segment is, relative to the version folder."""
    segment = store.manifest(version).segments[0]["name"]
    return f"segments/{segment}/{name}"


def passages(doc_id: str, n: int) -> list[Passage]:
    return [
        Passage(passage_id=f"{doc_id}-{i}", doc_id=doc_id, ordinal=i, text=f"{doc_id} Satz {i}.")
        for i in range(n)
    ]


def write_version(
    store: IndexStore, n: int = 4, *, model: str = "model-a", activate: bool = True
) -> str:
    parts = passages("a.txt", n)
    rng = np.random.default_rng(n)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    version = new_version_name()
    store.write(
        passages=parts,
        vectors=vectors,
        documents=[DocumentRecord("a.txt", DocumentMeta(title="A"), "hash-a", n)],
        manifest=Manifest(
            version=version, model_id=model, dim=DIM, passage_count=n,
            documents={"a.txt": "hash-a"}, passage_settings={}, created=utc_now(),
        ),
    )
    if activate:
        store.activate(version)
    return version


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    return IndexStore(tmp_path / "index")


def test_a_written_version_loads_back_exactly(store: IndexStore) -> None:
    version = write_version(store, 5)
    loaded = store.load()
    assert loaded.version == version == store.current()
    assert [p.text for p in loaded.passages] == [f"a.txt Satz {i}." for i in range(5)]
    assert loaded.documents["a.txt"].meta.title == "A"
    manifest = json.loads((store.versions_dir / version / MANIFEST).read_text())
    assert set(manifest["checksums"]) == {
        key(store, version, PASSAGE_VECTORS), key(store, version, PASSAGES), DOCUMENTS}
    # row i of the vectors is passage i: each stored vector finds its own passage first
    assert (loaded.vectors @ loaded.vectors.T).argmax(axis=1).tolist() == [0, 1, 2, 3, 4]


def test_no_index_is_a_clear_error(store: IndexStore) -> None:
    assert store.current() is None and store.versions() == []
    with pytest.raises(IndexNotFound, match="run 'natoqa build"):
        store.load()


@pytest.mark.parametrize("name", [PASSAGE_VECTORS, PASSAGES, DOCUMENTS])
def test_a_changed_byte_in_any_file_is_refused(store: IndexStore, name: str) -> None:
    version = write_version(store)
    name = key(store, version, name) if name != DOCUMENTS else name
    path = store.versions_dir / version / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match=f"{name} fails its checksum"):
        store.load(version)


def test_a_missing_file_is_refused(store: IndexStore) -> None:
    version = write_version(store)
    (store.versions_dir / version / key(store, version, PASSAGES)).unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        store.load(version)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": "x"}', "\xff"])
def test_an_unreadable_manifest_is_refused(store: IndexStore, content: str) -> None:
    version = write_version(store)
    (store.versions_dir / version / MANIFEST).write_text(content, encoding="latin-1")
    with pytest.raises(IndexCorrupt, match="manifest"):
        store.load(version)


def test_consistent_but_wrong_contents_are_refused(store: IndexStore) -> None:
    """Checksums that match files that do not belong together (hand-made version)."""
    version = write_version(store, 3)
    folder = store.versions_dir / version
    vectors = key(store, version, PASSAGE_VECTORS)
    np.save(folder / vectors, np.zeros((0, DIM), np.float32))  # 0 vectors, 3 passages
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["checksums"][vectors] = __import__("hashlib").sha256(
        (folder / vectors).read_bytes()
    ).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match=r"shape \(0, "):
        store.load(version)


def test_other_model_or_dimension_is_incompatible(store: IndexStore) -> None:
    version = write_version(store, model="model-a")
    assert store.load(version, expect_dim=DIM, expect_model="model-a").version == version
    with pytest.raises(IndexIncompatible, match="384"):
        store.load(version, expect_dim=384)
    with pytest.raises(IndexIncompatible, match="model-a"):
        store.load(version, expect_model="model-b")


def test_loaded_version_never_reads_its_folder_again(store: IndexStore) -> None:
    """prune may delete a version a running server still answers from."""
    version = write_version(store, 4)
    loaded = store.load()
    shutil.rmtree(store.versions_dir / version)
    scores = loaded.vectors @ loaded.vectors[0]
    assert scores.argmax() == 0 and scores[0] == pytest.approx(1.0, abs=1e-5)
    before, after = loaded.neighbours("a.txt-1")
    assert [p.passage_id for p in before + after] == ["a.txt-0", "a.txt-2"]
    assert set(loaded.vectors_by_text()) == {p.text for p in loaded.passages}


def test_activate_names_the_version_atomically(store: IndexStore) -> None:
    first = write_version(store)
    second = write_version(store, activate=False)
    assert store.current() == first
    store.activate(second)
    assert store.current() == second
    assert (store.root / CURRENT).read_text() == second + "\n"
    assert not list(store.root.glob(".CURRENT*"))  # no temp file left behind


@pytest.mark.parametrize("name", ["../../etc", "nope", ".tmp-x", "a/b"])
def test_unknown_or_unsafe_version_names_are_refused(store: IndexStore, name: str) -> None:
    write_version(store)
    with pytest.raises(IndexNotFound):
        store.activate(name)
    with pytest.raises(IndexNotFound):
        store.load(name)


def test_prune_keeps_the_newest_and_the_current(store: IndexStore) -> None:
    names = [write_version(store, activate=False) for _ in range(5)]
    store.activate(names[0])  # a rollback made the oldest current
    (store.versions_dir / ".tmp-leftover").mkdir()  # a build killed while writing
    (store.root / ".CURRENT.123.4.tmp").write_text("x")  # killed while activating
    removed = store.prune(keep=2)
    assert removed == names[1:3]
    assert store.versions() == [names[0], *names[3:]]
    assert not (store.versions_dir / ".tmp-leftover").exists()
    assert not (store.root / ".CURRENT.123.4.tmp").exists()
    with pytest.raises(ValueError):
        store.prune(keep=0)


def test_an_interrupted_write_leaves_nothing(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_version(store)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_version(store)
    assert store.versions() == [first] and store.current() == first
    assert [p.name for p in store.versions_dir.iterdir()] == [first]


def test_info_lists_versions_and_broken_manifests(store: IndexStore) -> None:
    good = write_version(store, 3)
    bad = write_version(store, activate=False)
    (store.versions_dir / bad / MANIFEST).write_text("{")
    infos = {i.version: i for i in store.info()}
    assert infos[good].current and infos[good].passages == 3 and infos[good].documents == 1
    assert infos[good].size_bytes > 0 and infos[good].error is None
    error = infos[bad].error
    assert not infos[bad].current and error is not None and "unreadable" in error


def test_the_current_version_cannot_be_removed(store: IndexStore) -> None:
    version = write_version(store)
    with pytest.raises(IndexStoreError, match="current"):
        store.remove(version)


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_version_folder_follows_the_umask(store: IndexStore, umask: int) -> None:
    # builder and server may be different users: a 0700 folder would lock the server out
    old = os.umask(umask)
    try:
        version = write_version(store)
    finally:
        os.umask(old)
    folder = store.versions_dir / version
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask
    assert all(f.stat().st_mode & 0o777 == (0o777 if f.is_dir() else 0o666) & ~umask
               for f in folder.rglob("*"))
    assert store.load().version == version


def test_a_large_file_is_checked_by_its_edges_and_whole_on_request(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large arrays are not hashed whole at every start: a torn or truncated file is caught
    by its size and edges, a flipped bit in the middle by ``full_check`` (what a build runs)."""
    from natoqa.index import store as store_mod

    monkeypatch.setattr(store_mod, "FULL_CHECK_BYTES", 1000)
    monkeypatch.setattr(store_mod, "_EDGE", 256)
    version = write_version(store, 40)  # passage_vectors.npy: 40 x DIM floats > 1000 bytes
    manifest = json.loads((store.versions_dir / version / MANIFEST).read_text())
    assert set(manifest["edges"]) == {key(store, version, PASSAGE_VECTORS),
                                      key(store, version, PASSAGES)}
    path = store.versions_dir / version / key(store, version, PASSAGE_VECTORS)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # the middle: beyond the edges
    path.write_bytes(bytes(data))
    store.load(version)
    with pytest.raises(IndexCorrupt, match=f"{PASSAGE_VECTORS} fails its checksum"):
        store.load(version, full_check=True)
    path.write_bytes(bytes(data[:-100]))  # truncated
    with pytest.raises(IndexCorrupt, match=f"{PASSAGE_VECTORS} fails its checksum"):
        store.load(version)


def test_loaded_vectors_are_memory_mapped_not_copied(store: IndexStore) -> None:
    write_version(store, 5)
    assert isinstance(store.load().vectors, np.memmap)
