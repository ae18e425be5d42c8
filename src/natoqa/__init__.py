"""natoqa: answers questions about the future of NATO from cited sources.

The public surface for scripts is the HTTP clients and the exceptions they raise;
the server is started with ``natoqa serve`` (or ``natoqa.api.app.create_app``).
"""

from natoqa._version import __version__
from natoqa.client import AsyncClient, Client
from natoqa.errors import (
    APIError,
    ClientError,
    ConfigError,
    ConnectError,
    CorpusError,
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexStoreError,
    ModelError,
    NatoqaError,
    NotFound,
    QuestionSetError,
    SourceError,
)

__all__ = [
    "APIError",
    "AsyncClient",
    "Client",
    "ClientError",
    "ConfigError",
    "ConnectError",
    "CorpusError",
    "IndexCorrupt",
    "IndexIncompatible",
    "IndexLocked",
    "IndexNotFound",
    "IndexStoreError",
    "ModelError",
    "NatoqaError",
    "NotFound",
    "QuestionSetError",
    "SourceError",
    "__version__",
]
