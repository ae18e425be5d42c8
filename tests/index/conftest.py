"""Fixtures of the PostgreSQL store's tests: a store in a schema of its own on the real
primary (dropped afterwards) and the same schema read on the hot standby."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.engines.postgres import PostgresServer

if TYPE_CHECKING:
    from natoqa.index.postgres import PostgresStore


@pytest.fixture
def schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(pg_primary: PostgresServer, schema: str) -> Iterator[PostgresStore]:
    from natoqa.index.postgres import PostgresStore

    yield PostgresStore(pg_primary.dsn, schema=schema)
    with pg_primary.connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def replica(pg_standby: PostgresServer, schema: str) -> PostgresStore:
    from natoqa.index.postgres import PostgresStore

    return PostgresStore(pg_standby.dsn, schema=schema)
