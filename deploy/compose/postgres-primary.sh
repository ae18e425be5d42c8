#!/bin/sh
# postgres-primary's entrypoint (compose.yaml, profile "scaled"): refuse to start
# without the passwords, then run the image's own entrypoint with the arguments.
# The check is here, not as ${VAR:?} in compose.yaml, because compose interpolates
# every service before it applies profiles: a required variable there would stop the
# default single-service "docker compose up" as well. Every other service of the
# profile waits for this one, and all read the same .env, so one check covers them.
set -eu
missing=
for name in POSTGRES_PASSWORD POSTGRES_REPLICATION_PASSWORD NATOQA_PG_PASSWORD \
            NATOQA_PG_READER_PASSWORD; do
  value=$(printenv "$name" || true)
  if [ -z "$value" ] || [ "$value" = CHANGE-ME ]; then   # CHANGE-ME: env.example's placeholder
    missing="$missing $name"
  fi
done
if [ -n "$missing" ]; then
  echo "postgres-primary: set$missing (cp deploy/compose/env.example .env, then edit it)" >&2
  exit 1
fi
exec docker-entrypoint.sh "$@"
