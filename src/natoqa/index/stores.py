"""The store a command or a server reads index versions from: files, or PostgreSQL.

Both answer the same two questions: which version is current, and that version (or a
named one) opened for questions (:class:`natoqa.index.store.IndexVersion` for files, a
:class:`natoqa.index.reader.VersionReader` for PostgreSQL). Which one is used is the
setting ``NATOQA_STORE``; the PostgreSQL modules are imported only then (the ``postgres``
extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from natoqa.index.reader import VersionReader
from natoqa.index.store import IndexStore, IndexVersion

if TYPE_CHECKING:
    from natoqa.config import Settings
    from natoqa.index.postgres import PostgresStore

#: a version opened for questions, from either store
OpenVersion = IndexVersion | VersionReader


class VersionSource(Protocol):
    """Where versions are read from (:class:`IndexStore`, or
    :class:`natoqa.index.postgres_reader.PostgresVersions`)."""

    @property
    def where(self) -> str:
        """The store as logs and ``/readyz`` name it (never with a password)."""
        ...

    def current(self) -> str | None:
        """The current version's name; None when nothing was built yet."""
        ...

    def load(self, version: str | None = None, *, expect_dim: int | None = None,
             expect_model: str | None = None) -> OpenVersion:
        """A version (default: the current one) opened; IndexStoreError when it is missing,
        broken, or of another model."""
        ...

    def check(self, *, expect_model: str | None = None) -> None:
        """What ``natoqa serve`` verifies before it starts, as cheaply as the store allows:
        the current version is there and of the model (files: it opens, memory-mapped);
        IndexStoreError otherwise, StoreUnreachable when the store cannot be reached."""
        ...


def postgres_store(settings: Settings) -> PostgresStore | None:
    """The PostgreSQL store the settings name, or None for files."""
    if settings.store_url is None:
        return None
    from natoqa.index.postgres import PostgresStore

    return PostgresStore(settings.store_url, schema=settings.store_schema)


def version_source(settings: Settings) -> VersionSource:
    """What a server or a command reads versions from, as configured."""
    store = postgres_store(settings)
    if store is None:
        return IndexStore(settings.index_dir)
    from natoqa.index.postgres_reader import PostgresVersions

    return PostgresVersions(store)
