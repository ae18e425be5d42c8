"""The ONNX backends against the torch model: same vectors (fp32), nearly (int8)."""

from __future__ import annotations

import os
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TEXTS = [
    "Was erbt Rutte von Stoltenberg?",
    "Who succeeded Jens Stoltenberg as NATO Secretary General?",
    unicodedata.normalize("NFD", "Wie viele Beschäftigte hat das Internationale Sekretariat?"),
    "x",
]


def test_fingerprint_follows_content_not_place_or_time(tmp_path: Path) -> None:
    from natoqa.embed.onnx import fingerprint

    packaged = tmp_path / "a" / "model"
    packaged.mkdir(parents=True)
    (packaged / "natoqa-checksums.json").write_text('{"files": {"model.safetensors": "1"}}')
    (packaged / "model.safetensors").write_bytes(b"weights")
    moved = tmp_path / "b" / "elsewhere"
    shutil.copytree(packaged, moved)
    os.utime(moved / "model.safetensors", (1, 1))  # an image build may reset times
    assert fingerprint(moved) == fingerprint(packaged)
    (moved / "natoqa-checksums.json").write_text('{"files": {"model.safetensors": "2"}}')
    assert fingerprint(moved) != fingerprint(packaged)
    # a folder without checksums is hashed by content
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "model.safetensors").write_bytes(b"weights")
    before = fingerprint(plain)
    os.utime(plain / "model.safetensors", (2, 2))
    assert fingerprint(plain) == before
    (plain / "model.safetensors").write_bytes(b"other weights")
    assert fingerprint(plain) != before


@pytest.fixture(scope="module")
def onnx_embedders(settings_for_model: Any) -> dict[str, Any]:
    from natoqa.embed.base import load_embedder

    return {backend: load_embedder(settings_for_model.model_copy(update={"backend": backend}))
            for backend in ("onnx", "onnx-int8")}


@pytest.fixture(scope="module")
def torch_embedder(settings_for_model: Any) -> Any:
    """The reference: the model run by torch (whatever the default backend is)."""
    from natoqa.embed.base import SentenceTransformerEmbedder, load_embedder

    reference = load_embedder(settings_for_model.model_copy(update={"backend": "torch"}))
    assert isinstance(reference, SentenceTransformerEmbedder)
    return reference


@pytest.mark.slow
def test_fp32_reproduces_torch_and_int8_stays_close(torch_embedder: Any,
                                                    onnx_embedders: dict[str, Any]) -> None:
    embedder = torch_embedder
    reference = embedder.embed_batch(TEXTS, kind="query")
    fp32 = onnx_embedders["onnx"].embed_batch(TEXTS, kind="query")
    int8 = onnx_embedders["onnx-int8"].embed_batch(TEXTS, kind="query")
    assert fp32.shape == int8.shape == reference.shape == (len(TEXTS), 384)
    assert fp32.dtype == np.float32
    assert np.allclose(np.linalg.norm(int8, axis=1), 1, atol=1e-4)
    assert (fp32 * reference).sum(1).min() > 0.9999
    assert (int8 * reference).sum(1).min() > 0.98
    # one at a time equals batched (padding must not leak into the pooling)
    single = np.stack([onnx_embedders["onnx"].embed(t, kind="query") for t in TEXTS])
    assert np.allclose(single, fp32, atol=1e-4)
    # the prompt is applied: a passage embeds differently from the same text as a query
    passage = onnx_embedders["onnx"].embed(TEXTS[0], kind="passage")
    assert float(passage @ fp32[0]) < 0.999
    assert float(passage @ embedder.embed(TEXTS[0], kind="passage")) > 0.9999


@pytest.mark.slow
def test_sessions_stop_spinning_when_a_run_ends(onnx_embedders: dict[str, Any]) -> None:
    """Retrieval's graph walks and scoring follow a question's embedding on the same cores:
    threads left spinning would take them (docs/SCALE.md, "Threads that wait")."""
    for embedder in onnx_embedders.values():
        options = embedder._session.get_session_options()
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"


@pytest.mark.slow
def test_onnx_backends_serve_an_index_built_with_torch(
    torch_embedder: Any, onnx_embedders: dict[str, Any], corpus_copy: Path, tmp_path: Path
) -> None:
    from natoqa.index.builder import build_index

    embedder = torch_embedder
    built_index = tmp_path / "index"
    build_index(corpus_copy, built_index, embedder)
    from natoqa.index.store import IndexStore
    from natoqa.retrieve.retriever import Retriever

    index = IndexStore(built_index).load(expect_model=embedder.model_id)
    question = "Wie viele Menschen arbeiten im Internationalen Sekretariat?"
    expected = Retriever(index, embedder).search(question, k=3)
    for backend in onnx_embedders.values():
        assert backend.model_id == embedder.model_id  # same vectors: no rebuild needed
        got = Retriever(index, backend).search(question, k=3)
        assert got.hits[0].passage.passage_id == expected.hits[0].passage.passage_id
        assert "1 352 Beschäftigte" in got.hits[0].passage.text


@pytest.mark.slow
def test_export_is_cached_and_complete(settings_for_model: Any) -> None:
    from natoqa.embed.base import resolve_model
    from natoqa.embed.onnx import FILES, RECORD, ensure_onnx

    folder = Path(resolve_model(settings_for_model)[0])
    first = ensure_onnx(folder, settings_for_model.model_cache)
    assert ensure_onnx(folder, settings_for_model.model_cache) == first  # no second export
    assert all((first / name).stat().st_size > 10_000_000 for name in FILES.values())
    assert (first / RECORD).is_file()
    assert (first / FILES["int8"]).stat().st_size < (first / FILES["fp32"]).stat().st_size / 3


def test_a_new_export_removes_only_the_superseded_ones_of_its_model(tmp_path: Path) -> None:
    from natoqa.embed.onnx import sweep_superseded

    names = ["m-1-0123456789ab-onnx", "m-1-ba9876543210-onnx", "m-1-extra-0123456789ab-onnx",
             "m-2-0123456789ab-onnx", "m-1"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.onnx").write_bytes(b"x")
    target = tmp_path / "m-1-ba9876543210-onnx"
    removed = sweep_superseded(target, "m-1")
    assert removed == [tmp_path / "m-1-0123456789ab-onnx"]
    left = sorted(p.name for p in tmp_path.iterdir())
    # the current export, another model's (even with a longer name), and the model itself
    assert left == sorted(n for n in names if n != "m-1-0123456789ab-onnx")
