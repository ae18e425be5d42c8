"""A build's embedding on a Ray cluster (``NATOQA_RAY_ADDRESS``; the ray extra).

Each of the build's embedding loops (:meth:`Embedder.embed_batches`,
:meth:`Embedder.embed_units_batches`: all its passages, all its sentence units) is one
Ray Data job: a row per batch, mapped by a pool of NATOQA_RAY_WORKERS actors
(:class:`_ModelWorker`), each loading natoqa's model once with :func:`load_embedder`;
the results come back to the build in its own order as the workers finish them. The
build's process loads no model (a task tells it the model's id and dimensions) and
writes the index as before.

A batch is embedded in one call on a worker, exactly as the local build embeds it: the
model's output for a text changes (by up to 1e-7) with the texts padded beside it, so
batches are never re-cut, and the vectors equal a local build's bit for bit (the
thread count does not change them; tests/embed/test_ray.py). A batch and its result
travel pickled, so nothing is converted on the way.

Ray is imported here only: without the extra, natoqa runs as before.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import socket
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from natoqa.config import Settings
from natoqa.embed.base import Embedded, EmbeddedUnits, Embedder, Kind, Span, Vectors
from natoqa.errors import ClusterError, ConfigError, NatoqaError

if TYPE_CHECKING:
    from ray.data import Dataset

log = logging.getLogger(__name__)

#: seconds to wait for the cluster's address to answer before saying it cannot be reached
#: (Ray itself retries for minutes)
CONNECT_TIMEOUT_S = 10.0
INSTALL_HINT = "install natoqa's ray extra: pip install 'natoqa[ray]' (scripts/setup does)"


@dataclass(frozen=True)
class _Call:
    """One batch of a loop, as a worker runs it: ``units`` None is embed_batch(_terms)."""

    texts: Sequence[str]
    kind: Kind
    terms: bool = False
    units: Sequence[Sequence[Span]] | None = None

    def run(self, embedder: Embedder) -> Embedded | EmbeddedUnits:
        if self.units is not None:
            return embedder.embed_units(self.texts, self.units, kind=self.kind)
        return next(embedder.embed_batches([self.texts], kind=self.kind, terms=self.terms))


#: the settings a worker gets from the build: what loads the model, and no secrets
MODEL_SETTINGS = ("model", "model_cache", "backend", "build_backend", "embed_batch_size")


def model_settings(settings: Settings) -> Settings:
    """A worker's settings: the build's model, on the threads the worker reserves."""
    fields: dict[str, object] = {name: getattr(settings, name) for name in MODEL_SETTINGS}
    return Settings.model_validate({**fields, "torch_threads": cpus_per_worker(settings)})


def cpus_per_worker(settings: Settings) -> int:
    """CPUs a worker reserves, and its model's threads: NATOQA_TORCH_THREADS, else one."""
    return settings.torch_threads or 1


class _ModelWorker:
    """A Ray Data actor: natoqa's model, loaded once, runs the batches it is handed."""

    def __init__(self, settings: Settings) -> None:
        from natoqa.embed.base import build_settings, load_embedder

        self.embedder = load_embedder(build_settings(settings), language_means=False)

    def __call__(self, rows: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        results = [pickle.dumps(pickle.loads(call).run(self.embedder)) for call in rows["call"]]
        return {"seq": rows["seq"], "result": np.array(results, dtype=object)}


def _describe(settings: Settings) -> tuple[str, int, bool]:
    """The model's id, dimensions and whether it has latent terms (run as a Ray task)."""
    from natoqa.embed.base import build_settings, load_embedder

    embedder = load_embedder(build_settings(settings), language_means=False)
    return embedder.model_id, embedder.dim, embedder.has_terms


class RayEmbedder(Embedder):
    """Embeds on a Ray cluster's workers; :func:`connect` makes one."""

    def __init__(self, settings: Settings, *, workers: int) -> None:
        import ray

        self.workers = workers
        cpus = cpus_per_worker(settings)
        self._cpus = cpus
        self._settings = model_settings(settings)
        describe = ray.remote(num_cpus=cpus)(_describe)
        try:
            self.model_id, self.dim, self._terms = ray.get(describe.remote(self._settings))
        except Exception as exc:  # a worker's failure arrives wrapped in Ray's types
            raise _failure("loading the model on the Ray cluster", exc) from None
        log.info("embedding on Ray with %d workers of %d CPU(s): %s", workers, cpus,
                 self.model_id)

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        return next(self.embed_batches([texts], kind=kind)).vectors

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        if not self.has_terms:
            raise NotImplementedError(f"{self.model_id} has no latent terms")
        return next(self.embed_batches([texts], kind=kind, terms=True))

    def embed_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], *, kind: Kind = "passage"
    ) -> EmbeddedUnits:
        return next(self.embed_units_batches([(texts, units)], kind=kind))

    def embed_batches(
        self, batches: Iterable[Sequence[str]], *, kind: Kind, terms: bool = False
    ) -> Generator[Embedded, None, None]:
        for out in self._run([_Call(list(texts), kind, terms) for texts in batches]):
            assert isinstance(out, Embedded)
            yield out

    def embed_units_batches(
        self, batches: Iterable[tuple[Sequence[str], Sequence[Sequence[Span]]]], *,
        kind: Kind = "passage",
    ) -> Generator[EmbeddedUnits, None, None]:
        calls = [_Call(list(texts), kind, units=[list(spans) for spans in units])
                 for texts, units in batches]
        for out in self._run(calls):
            assert isinstance(out, EmbeddedUnits)
            yield out

    def _dataset(self, calls: Sequence[_Call]) -> Dataset:
        import ray.data

        rows = [{"seq": i, "call": pickle.dumps(call)} for i, call in enumerate(calls)]
        # a block per batch, so that every worker gets batches as soon as it is free
        return ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _ModelWorker, fn_constructor_args=(self._settings,), batch_size=1,
            batch_format="numpy", num_cpus=self._cpus,
            # one batch per worker at a time: a worker ready first would otherwise queue
            # several, and a loop of few batches would run on it alone
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(rows)),
                                               max_tasks_in_flight_per_actor=1),
        )

    def _run(self, calls: Sequence[_Call]) -> Generator[Embedded | EmbeddedUnits, None, None]:
        """The results of ``calls`` in their order, each as soon as it and those before it
        are done."""
        if not calls:
            return
        waiting: dict[int, Embedded | EmbeddedUnits] = {}
        following = 0
        try:
            for row in self._dataset(calls).iter_rows():
                waiting[int(row["seq"])] = pickle.loads(row["result"])
                while following in waiting:
                    yield waiting.pop(following)
                    following += 1
        except NatoqaError:
            raise
        except Exception as exc:  # a worker's failure arrives wrapped in Ray's types
            raise _failure("embedding on the Ray cluster", exc) from None
        if following != len(calls):
            raise ClusterError(f"the Ray cluster returned {following} of {len(calls)} batches")


def _failure(doing: str, exc: Exception) -> ClusterError:
    """A ClusterError that names the first line of what failed (Ray's messages are long)."""
    text = str(exc).strip().splitlines()
    return ClusterError(f"{doing} failed: {type(exc).__name__}: {text[0] if text else ''}")


def connect(settings: Settings) -> RayEmbedder:
    """Connect to the cluster of ``settings.ray_address`` (unless this process is connected
    already) and return an embedder on its workers.

    ConfigError without the ray extra; ClusterError when the address does not answer within
    :data:`CONNECT_TIMEOUT_S` or Ray refuses to connect.
    """
    address = settings.ray_address
    if not address:
        raise ConfigError("NATOQA_RAY_ADDRESS is not set")
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(f"NATOQA_RAY_ADDRESS is set, but Ray is not installed: "
                          f"{INSTALL_HINT}") from None
    _probe(address)
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                     include_dashboard=False if address == "local" else None)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise _failure(f"connecting to the Ray cluster at {address!r}", exc) from None
    # the build shows its own progress; Ray Data's plan and timing lines are in the cluster's logs
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "disabled"
    # a worker's model takes about 3 GB at its peak (docs/SCALE-OUT.md), and Ray Data would
    # say so every 30 s of a build
    with contextlib.suppress(AttributeError):
        context.issue_detectors_config.high_memory_detector_config \
            .detection_time_interval_s = -1
    cpus = int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    per_worker = cpus_per_worker(settings)
    if cpus < per_worker:
        raise ClusterError(f"the Ray cluster at {address!r} has {cpus} CPUs, and a worker "
                           f"needs {per_worker} (NATOQA_TORCH_THREADS)")
    return RayEmbedder(settings, workers=settings.ray_workers or cpus // per_worker)


def _probe(address: str) -> None:
    """ClusterError at once when ``host:port`` (or ``ray://host:port``) does not answer: Ray
    itself retries for minutes. 'auto' and 'local' are Ray's to resolve."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address!r} (NATOQA_RAY_ADDRESS): "
            f"{exc.strerror or exc}; start one with 'ray start --head', or unset "
            "NATOQA_RAY_ADDRESS to embed here") from None
