"""Builds on a Ray cluster (natoqa.embed.ray_embedder; issue 20, docs/SCALE-OUT.md "Builds on Ray").

The slow tests start a real local Ray cluster (tests/engines/ray_cluster.py: ``ray start
--head --block``, two CPUs, on 127.0.0.1), embed with two workers and
compare with the same model run here: the vectors (and latent terms) must be *equal*, not
close. Without Ray (the ray extra) they are skipped, and fail under CI (``CI`` set), where
scripts/setup installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from natoqa.config import load_settings
from natoqa.embed.base import Embedder, load_build_embedder
from natoqa.errors import ClusterError, ConfigError
from tests.conftest import CORPUS, free_port, natoqa_cli
from tests.engines.ray_cluster import ray_installed, start_cluster, use_loopback

use_loopback()  # before ray is first imported


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster of two CPUs (its address); this process disconnects before it stops."""
    _require_ray()
    with start_cluster(cpus=2) as address:
        try:
            yield address
        finally:
            import ray

            ray.shutdown()  # this process's connection, if a test made one


def _require_ray() -> None:
    if not ray_installed():
        message = "Ray is not installed: pip install -e '.[ray]' (scripts/setup does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _passages(limit: int) -> list[str]:
    """The bundled corpus's first ``limit`` passages, longest first as a build embeds them."""
    from natoqa.ingest import passages
    from natoqa.ingest.cleaning import clean
    from natoqa.ingest.sources import scan_corpus

    texts = [p.text for raw in scan_corpus(CORPUS, None).documents
             for p in passages.split(clean(raw), min_words=60, max_words=200)]
    return sorted(texts[:limit], key=len, reverse=True)


def _cut(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


@pytest.mark.slow
def test_two_workers_embed_what_the_local_model_embeds(
    ray_cluster: str, embedder: Embedder
) -> None:
    from natoqa.embed.ray_embedder import RayEmbedder
    from natoqa.index.units import unit_spans, units

    # the workers on the session embedder's backend, to compare bit for bit
    remote = load_build_embedder(load_settings(ray_address=ray_cluster, ray_workers=2,
                                               build_backend="onnx"))
    assert isinstance(remote, RayEmbedder)
    assert (remote.workers, remote.model_id, remote.dim, remote.has_terms) == (
        2, embedder.model_id, embedder.dim, embedder.has_terms)

    # passages as the build's passage loop embeds them (one vector each)
    texts = _passages(24)
    batches = _cut(texts, 6)
    started = time.perf_counter()
    got = list(remote.embed_batches(batches, kind="passage"))
    seconds = time.perf_counter() - started
    want = list(embedder.embed_batches(batches, kind="passage"))
    assert len(got) == len(want) == len(batches)
    for g, w in zip(got, want, strict=True):
        assert g.vectors.dtype == np.float32
        assert np.array_equal(g.vectors, w.vectors)  # equal, not close
    print(f"2 Ray workers: {len(texts) / seconds:.1f} passages/s (model loading included)")

    # sentence units with their latent terms, as the "separate" units loop embeds them
    unit_texts = sorted({u for t in texts[:2] for u in units(t)}, key=len, reverse=True)
    for g, w in zip(remote.embed_batches(_cut(unit_texts, 16), kind="passage", terms=True),
                    embedder.embed_batches(_cut(unit_texts, 16), kind="passage", terms=True),
                    strict=True):
        assert np.array_equal(g.vectors, w.vectors)
        assert np.array_equal(g.term_ids, w.term_ids)
        assert np.array_equal(g.term_weights, w.term_weights)

    # units pooled from their passages' passes (NATOQA_UNIT_VECTORS=pooled)
    pooled = [(batch, [unit_spans(t) for t in batch]) for batch in _cut(texts[:4], 2)]
    for a, b in zip(remote.embed_units_batches(pooled), embedder.embed_units_batches(pooled),
                    strict=True):
        assert np.array_equal(a.units.vectors, b.units.vectors)
        assert np.array_equal(a.units.term_ids, b.units.term_ids)
        assert np.array_equal(a.text_vectors, b.text_vectors)
        assert np.array_equal(a.ran, b.ran)


def _small_corpus(folder: Path) -> Path:
    """Two documents of the bundled corpus: the short one and a slice of the long one."""
    folder.mkdir()
    for path in CORPUS.glob("002_*"):
        shutil.copy(path, folder / path.name)
    long_text = next(CORPUS.glob("000_*.txt")).read_text("utf-8")
    start = long_text.index("\n\n", 20_000)
    (folder / "slice.txt").write_text(long_text[start : start + 6_000], "utf-8")
    return folder


@pytest.fixture
def ray_address(ray_cluster: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """NATOQA_RAY_ADDRESS (and two workers) in the environment of the commands a test runs."""
    monkeypatch.setenv("NATOQA_RAY_ADDRESS", ray_cluster)
    monkeypatch.setenv("NATOQA_RAY_WORKERS", "2")
    # the workers embed on the local build's backend (the test session's embedder), so
    # their vectors can be compared bit for bit
    monkeypatch.setenv("NATOQA_BUILD_BACKEND", "onnx")
    return ray_cluster


@pytest.mark.slow
def test_natoqa_build_on_ray_writes_the_vectors_of_a_local_build(
    ray_address: str, embedder: Embedder, tmp_path: Path
) -> None:
    from natoqa.index.builder import build_index
    from natoqa.index.store import IndexStore

    corpus = _small_corpus(tmp_path / "corpus")
    build_index(corpus, tmp_path / "local", embedder)
    result = natoqa_cli("build", "--corpus", str(corpus), "--index", str(tmp_path / "ray"),
                        "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["passages_embedded"] == report["passages"] > 5

    local, remote = (IndexStore(tmp_path / name) for name in ("local", "ray"))
    a, b = local.load(local.current()), remote.load(remote.current())
    assert [p.text for p in a.passages] == [p.text for p in b.passages]
    assert np.array_equal(a.vectors, b.vectors)
    for name in ("sentence_vectors.npy", "sentence_term_ids.npy", "sentence_term_weights.npy"):
        assert np.array_equal(np.asarray(a.extras[name]), np.asarray(b.extras[name])), name




def test_an_unreachable_address_fails_at_once_with_a_clear_error() -> None:
    _require_ray()
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.perf_counter()
    with pytest.raises(ClusterError, match=r"cannot reach the Ray cluster at '127\.0\.0\.1:"):
        load_build_embedder(load_settings(ray_address=address))
    assert time.perf_counter() - started < 15


def test_natoqa_build_says_when_the_cluster_cannot_be_reached(tmp_path: Path) -> None:
    _require_ray()
    corpus = _small_corpus(tmp_path / "corpus")
    env = {**os.environ, "NATOQA_RAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    result = subprocess.run([sys.executable, "-m", "natoqa", "build", "--corpus", str(corpus),
                             "--index", str(tmp_path / "index")], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert "natoqa: error: cannot reach the Ray cluster at '127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_without_ray_the_setting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ConfigError, match=r"Ray is not installed: .*natoqa\[ray\]"):
        load_build_embedder(load_settings(ray_address="auto"))


def test_without_an_address_the_build_embeds_here(monkeypatch: pytest.MonkeyPatch) -> None:
    import natoqa.embed.base as base

    loaded: list[object] = []

    def load(settings: object) -> str:
        loaded.append(settings)
        return "x"

    monkeypatch.setattr(base, "load_embedder", load)
    monkeypatch.setitem(sys.modules, "ray", None)  # and Ray is never imported
    settings = load_settings()
    assert settings.ray_address is None
    assert load_build_embedder(settings) == "x"  # type: ignore[comparison-overlap]
    assert loaded == [base.build_settings(settings)]  # on the build's backend
