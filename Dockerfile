# natoqa: the question-answering API with its widget, the model prepared and the
# bundled corpus indexed at build time. docs/CONTAINER.md: how to build and run it,
# and exactly what was built and run on the development machine.
#
#   docker build -t natoqa .
#   docker run -p 8000:8000 -e NATOQA_ADMIN_TOKEN=… natoqa
#
# Build arguments (all optional):
#   BASE_IMAGE       a Debian-based image with python3 (>= 3.11) and its venv module
#   TORCH_VERSION    the CPU-only torch release installed first, so nothing pulls CUDA
#   TORCH_INDEX_URL  where that CPU build comes from (PyTorch's CPU wheel index)
#   PIP_INDEX_URL / PIP_FIND_LINKS / PIP_NO_INDEX   an offline or mirrored build
#   BACKEND          the default NATOQA_BACKEND (onnx | torch | onnx-int8)

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- base: what every stage shares ------------------------------------------------
FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    NATOQA_MODEL_CACHE=/opt/natoqa/models \
    NATOQA_CORPUS_DIR=/data/corpus \
    NATOQA_INDEX_DIR=/data/index

# --- build: a virtual environment with CPU-only torch and natoqa --------------------
FROM base AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_FIND_LINKS=/tmp/wheels
ARG PIP_NO_INDEX=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_FIND_LINKS=${PIP_FIND_LINKS} \
    PIP_NO_INDEX=${PIP_NO_INDEX}
WORKDIR /src
# docker/wheels/ may hold prepared wheels for an offline build (it is empty in git)
COPY docker/wheels/ /tmp/wheels/
# torch first and pinned, from the CPU index: the PyPI build would pull ~3 GB of CUDA
RUN python3 -m venv /opt/venv \
 && pip install --no-cache-dir --extra-index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
 && python3 -c "import torch, sys; sys.exit('+cpu' not in torch.__version__ and torch.version.cuda is not None)"

# --- prepare: the model converted (and exported) once, the corpus indexed -----------
FROM build AS prepare
ARG BACKEND=onnx
ENV NATOQA_BACKEND=${BACKEND}
COPY corpus/ /data/corpus/
RUN natoqa model prepare \
 && natoqa build --corpus /data/corpus --index /data/index \
 && natoqa info

# --- runtime: only the environment, the model and the data; no compilers, no pip cache
FROM base AS runtime
ARG BACKEND=onnx
# two copies of the model, one thread each, in one server process: on 2 cores the most
# throughput measured (docs/BENCHMARKS.md); about 2 GB of memory
ENV NATOQA_BACKEND=${BACKEND} \
    NATOQA_HOST=0.0.0.0 \
    NATOQA_PORT=8000 \
    NATOQA_MODEL_LANES=2 \
    NATOQA_TORCH_THREADS=1 \
    NATOQA_LOG_JSON=true
RUN groupadd --gid 10001 natoqa \
 && useradd --uid 10001 --gid natoqa --no-create-home --home-dir /data --shell /usr/sbin/nologin natoqa \
 && mkdir -p /data \
 && chown natoqa:natoqa /data
COPY --from=build /opt/venv /opt/venv
COPY --from=prepare /opt/natoqa/models /opt/natoqa/models
COPY --from=prepare --chown=natoqa:natoqa /data /data
USER 10001:10001
WORKDIR /data
# the corpus (sources) and the index (built versions) outlive the container
VOLUME ["/data/corpus", "/data/index"]
EXPOSE 8000
# ready = model and index loaded (/readyz); the port follows NATOQA_PORT
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('NATOQA_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["natoqa"]
CMD ["serve"]
