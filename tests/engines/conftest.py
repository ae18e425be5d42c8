"""The real engines' fixtures (tests/engines/postgres.py)."""

from tests.engines.postgres import pg_cluster, pg_primary, pg_standby

__all__ = ["pg_cluster", "pg_primary", "pg_standby"]
