"""natoqa's exceptions, all in one place.

The tree::

    NatoqaError
    ├── ConfigError            settings are missing or invalid
    ├── ModelError             the embedding model cannot be prepared or loaded
    │   └── ClusterError       the Ray cluster a build embeds on cannot be reached or failed
    ├── SourceError            one source file cannot be read (the build skips it)
    ├── CorpusError            the corpus as a whole is missing or empty
    ├── IndexStoreError        the index is missing, corrupt, incompatible or locked
    │   ├── IndexNotFound
    │   ├── IndexCorrupt       files do not match the manifest's checksums
    │   ├── IndexIncompatible  built with another model or format
    │   ├── IndexLocked        another build holds the lock
    │   └── StoreUnreachable   the store's database cannot be reached now (retry later)
    ├── QuestionSetError       a question file (natoqa eval) is missing or malformed
    ├── NotFound               a document or passage id does not exist
    └── ClientError            raised by natoqa.Client / AsyncClient
        ├── ConnectError       the server cannot be reached
        └── APIError           the server answered with an error (.status, .problem, .headers)

Every class carries a stable ``type`` slug used in problem+json bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NatoqaError(Exception):
    """Base class of every error natoqa raises on purpose."""

    type: str = "natoqa-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(NatoqaError):
    type = "config-error"


class ModelError(NatoqaError):
    type = "model-error"


class ClusterError(ModelError):
    """The Ray cluster of NATOQA_RAY_ADDRESS cannot be reached, or its workers failed."""

    type = "cluster-error"


class SourceError(NatoqaError):
    """A single source file could not be used; ``path`` names it."""

    type = "source-error"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CorpusError(NatoqaError):
    type = "corpus-error"


class IndexStoreError(NatoqaError):
    type = "index-error"


class IndexNotFound(IndexStoreError):
    type = "index-not-found"


class IndexCorrupt(IndexStoreError):
    type = "index-corrupt"


class IndexIncompatible(IndexStoreError):
    type = "index-incompatible"


class IndexLocked(IndexStoreError):
    type = "index-locked"


class StoreUnreachable(IndexStoreError):
    """The index's database (the PostgreSQL store) refused or lost the connection, or is
    shutting down or starting: a passing condition, worth retrying."""

    type = "store-unreachable"


class QuestionSetError(NatoqaError):
    """A question file is missing or malformed; the message names file and line."""

    type = "question-set-error"


class NotFound(NatoqaError):
    type = "not-found"


class ClientError(NatoqaError):
    type = "client-error"


class ConnectError(ClientError):
    type = "connect-error"


class APIError(ClientError):
    """The server answered with an error status; ``problem`` is its problem+json body."""

    type = "api-error"

    def __init__(
        self, status: int, problem: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.problem = problem
        #: the response's headers (``Retry-After``, ``X-Request-ID`` …); case-insensitive
        #: as the clients give them
        self.headers: Mapping[str, str] = headers if headers is not None else {}
