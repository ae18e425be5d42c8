#!/usr/bin/env bash
# Runs once, when the primary's data folder is created (the image runs
# /docker-entrypoint-initdb.d/*.sh against its first-start server, as the superuser
# over the local socket). Sets up what natoqa and the standby need:
#   natoqa          the build's role: creates its tables in schema natoqa, writes versions
#   natoqa_reader   the API replicas' role: SELECT on those tables, nothing else
#   replicator      the standby's streaming replication, over the slot natoqa_standby
# pgvector is created here by the superuser, so natoqa needs no superuser rights.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set build_password="$NATOQA_PG_PASSWORD" \
  --set reader_password="$NATOQA_PG_READER_PASSWORD" \
  --set replication_password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
-- :'x' quotes psql variables as literals: a password may hold any character
CREATE ROLE natoqa LOGIN PASSWORD :'build_password';
CREATE ROLE natoqa_reader LOGIN PASSWORD :'reader_password';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';

GRANT CONNECT, CREATE ON DATABASE :"DBNAME" TO natoqa;   -- CREATE: its schema's IF NOT EXISTS
GRANT CONNECT ON DATABASE :"DBNAME" TO natoqa_reader;
CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
CREATE SCHEMA natoqa AUTHORIZATION natoqa;
GRANT USAGE ON SCHEMA natoqa TO natoqa_reader;
-- tables the build creates later are readable by the replicas' role
ALTER DEFAULT PRIVILEGES FOR ROLE natoqa IN SCHEMA natoqa GRANT SELECT ON TABLES TO natoqa_reader;

-- the standby's slot: the primary keeps the WAL a stopped standby still needs
-- (bounded by max_slot_wal_keep_size)
SELECT pg_create_physical_replication_slot('natoqa_standby');
SQL

# The image's pg_hba.conf allows "all" databases from the network, which does not
# include replication connections.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
