#!/bin/sh
# postgres-standby's entrypoint (compose.yaml, profile "scaled"), run as the user
# postgres. On the first start (an empty data folder) it copies the primary with
# pg_basebackup -R -X stream over the slot natoqa_standby: -R writes standby.signal and
# primary_conninfo, so the copy starts as a streaming hot standby. Then postgres, with
# the arguments (compose's command).
set -eu
: "${PGDATA:?PGDATA names the data folder (the image sets it)}"
primary_host=${NATOQA_PG_PRIMARY_HOST:-postgres-primary}
primary_port=${NATOQA_PG_PRIMARY_PORT:-5432}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_REPLICATION_PASSWORD:-}" ]; then
    echo "postgres-standby: set POSTGRES_REPLICATION_PASSWORD (deploy/compose/env.example)" >&2
    exit 1
  fi
  echo "postgres-standby: copying $primary_host:$primary_port into $PGDATA"
  tries=0
  # pg_basebackup empties the folder again when it fails; the primary may be restarting
  until PGPASSWORD=$POSTGRES_REPLICATION_PASSWORD pg_basebackup --host "$primary_host" \
      --port "$primary_port" --username replicator --no-password --pgdata "$PGDATA" \
      --write-recovery-conf --wal-method stream --slot natoqa_standby --checkpoint fast; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
      echo "postgres-standby: pg_basebackup failed $tries times; giving up" >&2
      exit 1
    fi
    sleep 2
  done
  chmod 0700 "$PGDATA"   # the image makes the folder 1777; postgres wants 0700 (or 0750)
fi
exec postgres "$@"
