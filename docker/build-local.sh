#!/usr/bin/env bash
# Build and smoke-test the natoqa image with podman on a machine without Docker and
# without access to a container registry (as the development machine): the base image
# is made locally with debootstrap from Debian's packages, the Python wheels are
# downloaded on the host (the build runs offline), and the image is built with
# `--isolation chroot`. docs/CONTAINER.md records a run of this script.
#
#   sudo docker/build-local.sh     # needs: apt-get install podman debootstrap runc wrk
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/natoqa-base:bookworm
IMAGE=${IMAGE:-localhost/natoqa:dev}
WORK=${WORK:-/tmp/natoqa-container}
PORT=${PORT:-18000}
mkdir -p "$WORK"

# 1. a base image: Debian bookworm (minbase) with python3 3.11 and its venv module
if ! podman image exists "$BASE"; then
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,libgomp1 \
    bookworm "$WORK/rootfs" http://deb.debian.org/debian
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE"
fi

# 2. every wheel the image installs, resolved on the host: CPU torch and natoqa's deps
.venv/bin/pip download -q -d docker/wheels "torch==2.13.0" "setuptools>=69" wheel .

# 3. the image, offline (PIP_NO_INDEX), in docker format so HEALTHCHECK is kept
podman build --isolation chroot --format docker -t "$IMAGE" \
  --build-arg BASE_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 -f Dockerfile .

# 4. run it, with the index on a named volume, and probe it
podman volume exists natoqa-index || podman volume create natoqa-index
podman rm -f natoqa-smoke >/dev/null 2>&1 || true
# This VM: hybrid cgroups (crun refuses them: runc with cgroupfs does not), and the
# open-files/process limits may not be raised (podman's defaults would raise them).
RUN_OPTS=${RUN_OPTS:---runtime runc --cgroup-manager=cgroupfs}
# shellcheck disable=SC2086
podman $RUN_OPTS run -d --name natoqa-smoke -p "127.0.0.1:$PORT:8000" \
  --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096 \
  -v natoqa-index:/data/index -e NATOQA_ADMIN_TOKEN=smoke-test-admin-token \
  --read-only --tmpfs /tmp "$IMAGE"
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/readyz"; echo
curl -fsS -X POST "http://127.0.0.1:$PORT/api/v1/ask" -H 'Content-Type: application/json' \
  -d '{"question": "Was erbt Rutte von Stoltenberg?", "k": 2}'; echo
podman exec natoqa-smoke id
podman exec natoqa-smoke natoqa build --force   # a rebuild the running server switches to
sleep 3
curl -fsS "http://127.0.0.1:$PORT/readyz"; echo
podman healthcheck run natoqa-smoke && echo "healthcheck: healthy"
podman logs natoqa-smoke 2>&1 | tail -3
podman rm -f natoqa-smoke >/dev/null
