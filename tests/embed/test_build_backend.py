"""The build's backend (NATOQA_BUILD_BACKEND): bfloat16 where the CPU has it, and vectors
that questions embedded in float32 still find."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from natoqa.config import Settings
from natoqa.embed import base
from natoqa.embed.base import build_settings, hardware_bf16

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse sse2 avx2 {extra}
bugs\t\t: spectre_v1
"""

TEXTS = [
    "Die Verteidigungsausgaben sollen zwei Prozent des Bruttoinlandsprodukts erreichen.",
    "Who succeeded Jens Stoltenberg as NATO Secretary General?",
    "Der Gipfel in Washington beschloss ein neues Kommando für die Unterstützung der Ukraine, "
    "das in Wiesbaden sitzen soll, und sagte weitere Luftverteidigungssysteme zu.",
    "x",
]


@pytest.mark.parametrize(("extra", "expected"), [
    ("amx_bf16 amx_tile", True), ("avx512f avx512_bf16", True), ("avx512f avx512bw", False),
])
def test_hardware_bf16_reads_the_cpu_flags(tmp_path: Path, extra: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    assert hardware_bf16(cpuinfo) is expected


def test_hardware_bf16_is_false_where_linux_does_not_say(tmp_path: Path) -> None:
    assert hardware_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize(("build", "hardware", "expected"), [
    ("auto", True, "torch-bf16"),
    ("auto", False, "onnx-int8"),  # NATOQA_BACKEND, whatever it is
    ("torch", True, "torch"),
    ("onnx", True, "onnx"),
])
def test_build_settings_choose_the_build_backend(
    monkeypatch: pytest.MonkeyPatch, build: str, hardware: bool, expected: str
) -> None:
    monkeypatch.setattr(base, "hardware_bf16", lambda: hardware)
    settings = Settings.model_validate({"backend": "onnx-int8", "build_backend": build})
    chosen = build_settings(settings)
    assert chosen.backend == chosen.build_backend == expected
    assert settings.backend == "onnx-int8"  # the server's own settings stay as they were


def test_an_unknown_build_backend_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from natoqa.cli import main

    monkeypatch.setenv("NATOQA_BUILD_BACKEND", "gpu")
    result = CliRunner().invoke(main, ["build", "--corpus", str(tmp_path), "--index",
                                       str(tmp_path / "index")])
    assert result.exit_code == 2
    assert "NATOQA_BUILD_BACKEND" in result.output and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.skipif(not hardware_bf16(), reason="this CPU does not multiply bfloat16")
def test_bf16_vectors_and_terms_stay_those_of_float32(
    settings_for_model: Any, embedder: Any
) -> None:
    """What a bf16 build stores is, for retrieval, what a float32 build stores: vectors
    within cosine 0.9999 of the float32 model's, the same strongest latent terms, and
    units pooled from the same pass alike."""
    bf16 = base.load_embedder(build_settings(settings_for_model))
    assert isinstance(bf16, base.SentenceTransformerEmbedder) and bf16.model_id == \
        embedder.model_id  # an index it builds is served by the float32 server
    got = bf16.embed_batch_terms(TEXTS, kind="passage")
    want = embedder.embed_batch_terms(TEXTS, kind="passage")
    assert got.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(got.vectors, axis=1), 1, atol=1e-5)
    cosines = (got.vectors * want.vectors).sum(axis=1)
    assert cosines.min() > 0.9999
    assert (bf16.embed_batch(TEXTS, kind="query") * embedder.embed_batch(TEXTS, kind="query")
            ).sum(axis=1).min() > 0.9999
    for ids, ref_ids, ref_weights in zip(got.term_ids, want.term_ids, want.term_weights,
                                         strict=True):
        order = np.argsort(-ref_weights)[:32]
        strongest = set(ref_ids[order[ref_weights[order] > 0]])
        # a term near the cut may swap places
        assert len(strongest & set(ids)) >= len(strongest) - 2
    # not a no-op: bfloat16 products do change the vectors, a little
    assert cosines.max() < 1 - 1e-9


def test_token_batches_bound_the_padded_tokens_of_a_pass() -> None:
    from natoqa.embed.base import token_batches

    lengths = [30, 512, 40, 512, 35, 600, 510] + [20] * 70
    batches = token_batches(lengths, batch_size=32, budget=1024)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # each once
    assert batches[0] == [5]  # longer than the budget: alone
    for batch in batches:
        assert len(batch) <= 32
        assert [lengths[i] for i in batch] == sorted((lengths[i] for i in batch), reverse=True)
        assert len(batch) == 1 or len(batch) * lengths[batch[0]] <= 1024
    # 600 alone; 512 + 512; 510 + 40 (1,020 padded tokens); the short ones by batch_size
    assert [len(b) for b in batches] == [1, 2, 2, 29, 32, 11]


class _Lengths:
    """A tokenizer that only gives lengths (characters), and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts: list[str], **_: Any) -> dict[str, list[int]]:
        self.calls += 1
        return {"length": [len(t) for t in texts]}


def test_model_batches_pad_documents_and_pass_questions_straight_through() -> None:
    from natoqa.embed.base import model_batches

    tokenizer = _Lengths()
    texts = ["a" * 17, "b" * 3, "c" * 30, "d" * 16]
    # documents: lengths rounded up to the padding (32, 16, 32, 16), longest first
    assert model_batches(tokenizer, texts, 512, 32, "passage", pad=16) == [[0, 2, 1, 3]]
    assert model_batches(tokenizer, texts, 512, 2, "passage", pad=16) == [[0, 2], [1, 3]]
    assert tokenizer.calls == 2
    # questions on the request path: no tokenizer pass for their lengths, in order
    assert model_batches(tokenizer, texts, 512, 3, "query", pad=16) == [[0, 1, 2], [3]]
    assert model_batches(tokenizer, [], 512, 3, "passage") == [[]]
    assert tokenizer.calls == 2


@pytest.mark.slow
@pytest.mark.skipif(not hardware_bf16(), reason="this CPU does not multiply bfloat16")
def test_a_bf16_build_pads_its_batches_and_bounds_onednn(settings_for_model: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Few shapes for oneDNN's kept kernels: the model's inputs padded to PAD_TOKENS, and
    the kernel cache bounded unless the operator set it."""
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    bf16 = base.load_embedder(build_settings(settings_for_model))
    assert isinstance(bf16, base.SentenceTransformerEmbedder)
    shape = bf16.model.preprocess(["Hallo Welt", "Die NATO"])["input_ids"].shape
    assert shape[1] % base.PAD_TOKENS == 0 and shape[1] >= base.PAD_TOKENS
    import os

    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(base.ONEDNN_KERNELS)
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")
    base.load_embedder(build_settings(settings_for_model))
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "64"  # the operator's stands
    base.release_memory()  # glibc's trim: callable, harmless
