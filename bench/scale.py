"""What natoqa costs as the corpus grows: 1,000 to 100,000 passages (issue 17).

For each size it makes (or reuses) a corpus (bench/scale_corpus.py: the bundled corpus,
XQuAD's German paragraphs, generated German text or, with ``--distractors prose``, real
German prose first), builds its index, and measures:

- **build**: a full build as a ``natoqa build`` subprocess (real embeddings), or as this
  script's own subprocess with synthesised vectors (``--synthetic-vectors``); its wall
  time, passages per second (with their sentence units: only meaningful with real
  embeddings) and the build process's peak RSS (``wait4``'s ``ru_maxrss``);
- **index size** on disk (the current version's folder, and the whole index folder);
- **retrieval** in this process: ``Retriever.search`` one question at a time (p50/p95 of
  the whole call and of its ``search_ms``: the scoring after the model, less the latent
  terms' scoring, which the retriever times with the model's encoding), and what loading
  costs here (``IndexStore.load``, ``Retriever(...)``);
- **dev-set quality** through natoqa.evaluate.evaluation: recall@5 of the answerable
  questions of eval/devset.jsonl + followups.jsonl, and the abstention shares; with
  ``--xquad`` also the questions of XQuAD's measured half of articles (their gold
  paragraphs are in every corpus; the generated distractors are made of the other half);
- **ANN recall@50** against exact search (:func:`ann_recall`): 1.0 by definition while
  retrieval is exact, computed for real once an approximate search exists;
- **the service**: a real ``natoqa serve`` (bench/serving.py), the time from spawning it
  to ready minus the model's load (measured apart, in a fresh interpreter), ``POST
  /api/v1/ask`` one at a time with distinct questions (p50/p95), and its RSS;
- **a one-document rebuild**: one document edited, an incremental build in this process,
  the bytes of the files it created or changed in the index folder, and the **live
  switch**: from that build's end until the server (checking CURRENT every second, the
  default) answers from the new version.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/scale.py --sizes 1000 --out /tmp/natoqa-scale
    HF_HUB_OFFLINE=1 .venv/bin/python bench/scale.py --sizes 10000,100000 --synthetic-vectors \\
        --out /tmp/natoqa-scale --json scale.json

Corpora and indexes are kept in ``--out`` and reused by a rerun (a build's figures are
kept beside its index). See docs/SCALE.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import scale_corpus  # noqa: E402
from serving import start_server  # noqa: E402

from natoqa.embed.base import Embedded, Embedder, Kind, Vectors  # noqa: E402
from service import Http, _rss, asking, load_questions, percentiles  # noqa: E402

TOKEN = "scale-bench-token"
#: the server's check of CURRENT (s): the live switch includes up to this much waiting
RELOAD_INTERVAL = 1
DEV_SETS = [ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl"]
#: live switches under load in a service run (issue 17: 0 failed requests through 5)
SWITCHES = 5
SYNTHETIC_NOTE = "SYNTHESISED VECTORS (--synthetic-vectors): not the model's for most passages"

#: a search function: question -> passage rows, best first
SearchFn = Callable[[str], Sequence[int]]


# --- recall of an approximate search ---------------------------------------------------


def ann_recall(approximate: SearchFn, exact: SearchFn, questions: Sequence[str],
               k: int = 50) -> float:
    """Mean share of the exact search's top ``k`` that the approximate search also returns
    in its top ``k`` (recall@k of the ANN against exact search), over ``questions``."""
    shares = []
    for q in questions:
        truth = list(exact(q))[:k]
        if not truth:
            continue
        found = set(list(approximate(q))[:k])
        shares.append(sum(r in found for r in truth) / len(truth))
    return float(np.mean(shares)) if shares else 1.0


def graph_recall(version: Any, vectors: Any, k: int = 50, width: int = 200,
                 ef: int = 400, unit_ef: int = 128) -> dict[str, float]:
    """Recall@k of each nearest-neighbour graph of ``version`` against an exact search of the
    vectors it indexes, for the query ``vectors``, as retrieval asks a graph: the share of
    the exact ``k`` nearest among the ``width`` it returns at efSearch ``ef`` (passages) or
    ``unit_ef`` (units): the retrieval's ``candidates``, ``ann_ef_search`` and
    ``ann_ef_search_units``, before rescoring."""
    from natoqa.index import ann
    from natoqa.index import units as unit_files

    out: dict[str, float] = {}
    for name, file, wide in ((ann.PASSAGES_FILE, None, ef),
                             (ann.UNITS_FILE, unit_files.VECTORS_FILE, unit_ef)):
        shares = []
        for segment in version.segments:  # each segment's graph against its own vectors
            graph = segment.extras.get(name)
            stored = segment.vectors if file is None else segment.extras.get(file)
            if graph is None or stored is None:
                continue
            _, found = ann.search(graph, vectors, width, wide)
            for q, rows in zip(vectors, found, strict=True):
                truth = np.argpartition(-np.asarray(stored @ q), k)[:k]
                shares.append(len(set(truth.tolist()) & set(rows.tolist())) / k)
        if shares:
            out[name] = round(float(np.mean(shares)), 4)
    return out


def exact_search(retriever: Any, k: int = 50) -> SearchFn:
    """Retriever.search's ranking as passage rows (exact when the version has no graphs or
    the retriever's settings say ``exact``)."""
    rows = {p.passage_id: i for i, p in enumerate(retriever.index.passages)}

    def search(question: str) -> list[int]:
        return [rows[h.passage.passage_id] for h in retriever.search(question, (), k).hits]

    return search


# --- synthesised vectors -----------------------------------------------------------------


class SyntheticEmbedder(Embedder):
    """The real model's vectors for texts it knows, a stand-in for every other passage text.

    ``known`` maps texts to what the real model gave them (vector, latent term ids and
    weights); such a text (the bundled corpus, XQuAD, a smaller corpus of the same seed)
    gets exactly that. Any other passage or unit text gets a deterministic perturbation,
    by a hash of the text, of a vector of ``pool`` (real vectors of real text; not of
    the bundled corpus, so that the dev set's gold passages get no near-copies),
    normalised, and the same pool row's latent term ids with perturbed weights: the same
    dimensions, norms and term sparsity as real ones. Questions (``kind="query"``) are
    always embedded by the real model.
    """

    #: noise per dimension: cosine to the pool vector about 0.95
    NOISE = 0.33

    def __init__(self, real: Embedder, known: Mapping[str, tuple[Any, Any, Any]],
                 pool: Sequence[tuple[Any, Any, Any]]) -> None:
        self.real = real
        self.model_id, self.dim = real.model_id, real.dim
        self.language_means = real.language_means
        self._terms = real.has_terms
        self.known = known
        self.pool_vectors = np.stack([p[0] for p in pool]).astype(np.float32)
        self.pool_ids = [p[1] for p in pool]
        self.pool_weights = [p[2] for p in pool]
        self.synthesised = 0
        self.reused = 0

    def _one(self, text: str) -> tuple[Any, Any, Any]:
        hit = self.known.get(text)
        if hit is not None:
            self.reused += 1
            return hit
        self.synthesised += 1
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        i = int(rng.integers(len(self.pool_vectors)))
        v = self.pool_vectors[i] + rng.normal(0, self.NOISE / np.sqrt(self.dim), self.dim)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        ids = self.pool_ids[i]
        weights = None
        if ids is not None:
            w = self.pool_weights[i]
            weights = np.where(w > 0, np.maximum(w * rng.normal(1, 0.1, w.shape), 1e-3),
                               0).astype(np.float32)
        return v, ids, weights

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if kind == "query":
            return self.real.embed_batch(texts, kind=kind)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._one(t)[0] for t in texts])

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        if kind == "query":
            return self.real.embed_batch_terms(texts, kind=kind)
        rows = [self._one(t) for t in texts]
        return Embedded(np.stack([r[0] for r in rows]),
                        np.stack([r[1] for r in rows]).astype(np.int32),
                        np.stack([r[2] for r in rows]).astype(np.float32))


def known_vectors(index_dir: Path, dim: int) -> tuple[dict[str, tuple[Any, Any, Any]],
                                                      list[tuple[Any, Any, Any]]]:
    """Text → (vector, term ids, term weights) of every passage and unit of a real index;
    and the pool: those not of the bundled corpus (whose documents are at the corpus root)."""
    from natoqa.embed import latent_terms as sparse
    from natoqa.index import units
    from natoqa.index.store import IndexStore

    version = IndexStore(index_dir).load()
    known: dict[str, tuple[Any, Any, Any]] = {}
    pool: list[tuple[Any, Any, Any]] = []
    # segment by segment: each has its own rows of passages, vectors and units (a version
    # that an edit left with several segments lined up the first one's units with all rows)
    for segment in version.segments:
        vectors = np.asarray(segment.vectors)
        extras = dict(segment.extras)
        if units.SPANS_FILE not in extras and units.ROWS_FILE in extras:
            # a seed built before spans were stored: derive them, or its units' real vectors
            # would not be found (and the gold passages' units would be synthesised)
            extras[units.SPANS_FILE] = units.load_spans(extras, segment.passages,
                                                        extras[units.ROWS_FILE])
        stored_units = units.reusable_from(segment.passages, extras, dim)
        for i in segment.live.tolist():
            passage = segment.passages[i]
            unit_rows = [stored_units[u] for u in units.units(passage.text)
                         if u in stored_units]
            # a passage's own terms are not stored: its first unit's stand in (or none)
            if unit_rows and unit_rows[0].term_ids is not None:
                ids, weights = unit_rows[0].term_ids, unit_rows[0].term_weights
            else:
                ids = np.zeros(sparse.TOP_TERMS, np.int32)
                weights = np.zeros(sparse.TOP_TERMS, np.float32)
            entries: list[tuple[str, tuple[Any, Any, Any]]] = [
                (passage.text, (vectors[i], ids, weights))]
            entries += [(u, (s.vector, s.term_ids, s.term_weights))
                        for u, s in zip(units.units(passage.text), unit_rows, strict=False)]
            for text, entry in entries:
                known[text] = entry
                if "/" in passage.doc_id and entry[1] is not None:
                    pool.append(entry)
    if not pool:  # an index of the bundled corpus alone: its vectors are all there is
        pool = list(known.values())
    return known, pool


# --- builds ------------------------------------------------------------------------------


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def page_cache_mib() -> int | None:
    """The kernel's page cache (``Cached`` of /proc/meminfo) in MiB; None where there is none.
    A version's files read from the cache or from disk make a question's time differ by
    half (docs/SCALE.md, "Threads that wait"), and some VMs give the cache back when idle."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in lines if line.startswith("Cached:")), None)
    return None if kib is None else kib // 1024


def warm(folder: Path, chunk: int = 8 << 20) -> int:
    """Read every file under ``folder`` once, so that a measurement starts from the page
    cache as a server that has run for a while does; returns the bytes read."""
    total = 0
    buffer = bytearray(chunk)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb", buffering=0) as f:
            while n := f.readinto(buffer):
                total += n
    return total


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for p in folder.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def written_bytes(before: Mapping[str, tuple[int, int, int]],
                  after: Mapping[str, tuple[int, int, int]]) -> tuple[int, int]:
    """(bytes, files) written: files that are new or changed (size, mtime or inode), each
    inode once; a hard link to a file that was there before (a shared segment) is not."""
    inodes = {v[2] for v in before.values()}
    written: dict[int, int] = {}
    for k, (size, mtime, inode) in after.items():
        if before.get(k) != (size, mtime, inode) and (inode not in inodes or k in before):
            written[inode] = size
    return sum(written.values()), len(written)


#: runs ``argv[2:]`` and writes its peak RSS (KiB) to the file ``argv[1]``. Measured by a
#: fresh, small process: Linux keeps a process's high-water mark across fork and exec,
#: so a command spawned by this bench (holding the model and indexes) reported the
#: bench's peak when it was the larger (1.5 GB for a child that took 8 MB)
_LAUNCHER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
             "open(sys.argv[1], 'w').write(str(resource.getrusage("
             "resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(code)")


def run_measured(command: list[str], env: Mapping[str, str] | None = None,
                 ) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of a subprocess: its own peak, not this
    process's (:data:`_LAUNCHER`)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(peak_file), *command],
                              stdout=subprocess.PIPE, env={**os.environ, **(env or {})},
                              check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({proc.returncode})")
        peak_kib = int(peak_file.read_text())
    return wall, peak_kib / 1024, proc.stdout.decode()


def ensure_build(size: int, corpus: Path, index: Path, out: Path, synthetic: bool,
                 seed_index: Path | None) -> dict[str, Any]:
    """Build the index unless a build's figures are kept beside it; returns them."""
    figures = index.with_suffix(".build.json")
    if figures.is_file() and (index / "CURRENT").is_file():
        return dict(json.loads(figures.read_text()), reused=True)
    shutil.rmtree(index, ignore_errors=True)
    if synthetic:
        command = [sys.executable, str(Path(__file__).resolve()), "--_build-synthetic",
                   str(corpus), str(index)]
        if seed_index is not None:
            command.append(str(seed_index))
    else:
        command = [sys.executable, "-m", "natoqa", "build", "--corpus", str(corpus),
                   "--index", str(index), "--json"]
    print(f"  building {index} ({'synthesised vectors' if synthetic else 'real model'}) …",
          flush=True)
    wall, peak, stdout = run_measured(command, {"NATOQA_LOG_LEVEL": "warning"})
    report = json.loads(stdout)
    units = _unit_count(index)
    data = {
        "size": size, "synthetic": synthetic, "command": command, "wall_s": round(wall, 1),
        "peak_rss_mib": round(peak), "passages": report["passages"],
        "documents": report["documents"], "sentence_units": units,
        "timings": report.get("timings", {}), "build_s": report.get("seconds"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    if "synthesised" in report:
        data["synthesised_texts"] = report["synthesised"]
        data["real_texts"] = report["reused_real"]
    embed = sum(v for k, v in data["timings"].items() if k.startswith("embed"))
    data["passages_per_s"] = round(report["passages"] / wall, 2)
    data["passages_per_s_embedding"] = round(report["passages"] / embed, 2) if embed else None
    figures.write_text(json.dumps(data, indent=1))
    return data


def ensure_merged(index: Path) -> dict[str, Any]:
    """``natoqa index merge`` of the index's segments into one, as a subprocess (no
    model): its wall time, peak RSS and report; a no-op on an index of one segment."""
    command = [sys.executable, "-m", "natoqa", "index", "merge", "--index", str(index),
               "--json"]
    wall, peak, stdout = run_measured(command, {"NATOQA_LOG_LEVEL": "warning"})
    report = json.loads(stdout)
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak), "report": report}


def seed_index_for(args: argparse.Namespace, size: int) -> Path | None:
    """--seed-index, else the real index of the largest size up to ``size`` in --out (a
    corpus of the same seed: its passages are the first of this one), else None."""
    if args.seed_index is not None:
        return Path(args.seed_index).resolve()
    sizes = {int(p.name.split("-")[1]): p for p in args.out.glob("index-*-real")
             if p.name.split("-")[1].isdigit() and (p / "CURRENT").is_file()}
    fitting = [n for n in sizes if n <= size]
    return sizes[max(fitting)] if fitting else None


def internal_build_synthetic(corpus: Path, index: Path, seed_index: Path | None) -> None:
    """The build of --synthetic-vectors, in its own process (peak RSS): prints the report."""
    import logging

    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder
    from natoqa.index.builder import build_index

    logging.basicConfig(level=logging.WARNING)
    real = load_embedder(load_settings())
    embedder = synthetic_embedder(real, seed_index, corpus.parent)
    report = build_index(corpus, index, embedder)
    out = report.to_dict()
    out["synthesised"], out["reused_real"] = embedder.synthesised, embedder.reused
    print(json.dumps(out))


def synthetic_embedder(real: Embedder, seed_index: Path | None, out: Path) -> SyntheticEmbedder:
    """Known vectors from ``seed_index`` (a real index of a corpus of the same seed), else
    from a real index of the bundled corpus and XQuAD built once into ``out``."""
    if seed_index is None:
        seed_index = out / "index-seed-real"
        if not (seed_index / "CURRENT").is_file():
            from natoqa.index.builder import build_index

            seed_corpus = out / "corpus-seed"
            scale_corpus.write_corpus(seed_corpus, 0)  # bundled + XQuAD only
            print(f"  embedding the seed corpus {seed_corpus} with the real model …",
                  file=sys.stderr, flush=True)
            build_index(seed_corpus, seed_index, real)
    known, pool = known_vectors(seed_index, real.dim)
    return SyntheticEmbedder(real, known, pool)


def _unit_count(index: Path) -> int:
    from natoqa.index.store import IndexStore
    from natoqa.index.units import ROWS_FILE

    version = IndexStore(index).load()
    return sum(len(s.extras.get(ROWS_FILE, [])) for s in version.segments)


# --- one size ----------------------------------------------------------------------------


def model_load_seconds() -> float:
    """Loading the model (and its warm-up question) in a fresh interpreter, as the server's
    lifespan does; imports of the model's libraries included."""
    code = ("import time; t = time.perf_counter()\n"
            "from natoqa.config import load_settings\n"
            "from natoqa.embed.base import load_embedder\n"
            "e = load_embedder(load_settings()); e.embed('warm-up', kind='query')\n"
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return float(out.strip().splitlines()[-1])


def edit_document(corpus: Path) -> tuple[Path, str]:
    """Append a sentence to the first generated (else XQuAD) document; returns its old text."""
    candidates = sorted((corpus / scale_corpus.GENERATED_DIR).rglob("*.txt")) or \
        sorted((corpus / scale_corpus.XQUAD_DIR).rglob("*.txt"))
    path = candidates[0]
    old = path.read_text(encoding="utf-8")
    path.write_text(old + "\nNachtrag: Dieser Absatz wurde für den Skalierungstest an das "
                    "Dokument angehängt, damit genau ein Dokument neu eingelesen wird.\n",
                    encoding="utf-8")
    return path, old


def xquad_quality(retriever: Any, out: Path) -> dict[str, Any]:
    """The questions of XQuAD's measured articles against a corpus holding their paragraphs
    (every corpus here does): R@1/R@5 per language and the share that abstains (all are
    answerable; the generated distractors are made of the other articles)."""
    from natoqa.evaluate import evaluation

    path = out / "xquad-questions.jsonl"
    questions = scale_corpus.xquad_questions()  # the measured articles' (scale_corpus)
    if not questions:
        raise SystemExit(f"--xquad: no XQuAD benchmark at {scale_corpus.XQUAD.parent}")
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions),
                    encoding="utf-8")
    print("  XQuAD …", flush=True)
    report = evaluation.summarise(
        evaluation.run(retriever, evaluation.load_questions([path]), k=10))
    return {**{f"recall_at_{k}_{lang}": report.groups[lang].recall[k]
               for lang in ("de", "en") for k in (1, 5)},
            "answerable_abstained": report.answerable_abstained,
            "questions": report.answerable}


def measure_size(size: int, args: argparse.Namespace, embedder: Embedder,
                 questions: list[str]) -> dict[str, Any]:
    from natoqa.config import load_settings
    from natoqa.evaluate import evaluation
    from natoqa.index.builder import build_index
    from natoqa.index.store import IndexStore
    from natoqa.retrieve.retriever import Retriever
    from natoqa.text import language

    out: Path = args.out
    kind = "synthetic" if args.synthetic_vectors else "real"
    # the generated distractors keep the folder names of the runs in docs/SCALE.md
    suffix = "" if args.distractors == "generated" else f"-{args.distractors}"
    corpus, index = out / f"corpus-{size}{suffix}", out / f"index-{size}-{kind}{suffix}"
    stamp = corpus / ".scale.json"
    made: dict[str, Any] = {"seed": args.seed, "generator": scale_corpus.GENERATOR}
    if suffix:  # (the stamps of earlier corpora have no such key)
        made["distractors"] = args.distractors
    if not (stamp.is_file() and made.items() <= json.loads(stamp.read_text()).items()):
        print(f"  generating {corpus} …", flush=True)
        counts = scale_corpus.write_corpus(corpus, size, args.seed,
                                           distractors=args.distractors)
        stamp.write_text(json.dumps({**made, "size": size, **counts}))
    seed_index = seed_index_for(args, size) if args.synthetic_vectors else None
    result: dict[str, Any] = {"size": size, "vectors": kind, "distractors": args.distractors,
                              "corpus": json.loads(stamp.read_text()),
                              "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
                              "build": ensure_build(size, corpus, index, out,
                                                    args.synthetic_vectors, seed_index)}
    # the index of the corpus as generated (a no-op unless an earlier run stopped while
    # one document was edited)
    build_index(corpus, index, args.builder)
    if args.merge:
        print(f"  merging {index}'s segments …", flush=True)
        result["merge"] = ensure_merged(index)
    store = IndexStore(index)
    current = store.current()
    assert current is not None
    result["index_bytes"] = tree_bytes(store.versions_dir / current)
    result["index_folder_bytes"] = tree_bytes(index)

    # retrieval in this process
    result["page_cache"] = {"cached_mib_before": page_cache_mib(), "warmed": args.warm_cache}
    if args.warm_cache:
        t = time.perf_counter()
        result["page_cache"]["read_bytes"] = warm(store.versions_dir / current)
        result["page_cache"].update(read_s=round(time.perf_counter() - t, 1),
                                    cached_mib_after=page_cache_mib())
    t = time.perf_counter()
    version = store.load(expect_dim=embedder.dim, expect_model=embedder.model_id)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    retriever = Retriever(version, embedder, load_settings().retrieval)
    init_s = time.perf_counter() - t
    result["passages"] = len(version)
    result["sentence_units"] = retriever.corpus.unit_count
    result["load_in_process_s"] = {"index_load": round(load_s, 2),
                                   "retriever_init": round(init_s, 2)}
    n = args.questions
    language.prepare()  # as the server does at start: no question pays for its model
    for q in questions[-5:]:
        retriever.search(q)
    total, scoring = [], []
    for q in questions[:n]:
        t = time.perf_counter()
        r = retriever.search(q)
        total.append((time.perf_counter() - t) * 1000)
        scoring.append(r.timings["search_ms"])
    result["retrieval_ms"] = percentiles(total)
    result["scoring_ms"] = percentiles(scoring)
    sample = questions[:min(n, 20)]
    if retriever.corpus.approximate:
        if len(version) <= args.exact_recall_max:
            settings = retriever.settings.model_copy(update={"exact": True})
            exact = exact_search(Retriever(version, embedder, settings))
            result["ann_recall_at_50"] = ann_recall(exact_search(retriever), exact, sample)
        cfg = retriever.settings
        result["graph_recall_at_50"] = graph_recall(
            version, embedder.embed_batch(sample, kind="query"), width=cfg.candidates,
            ef=cfg.ann_ef_search, unit_ef=cfg.ann_ef_search_units)
        result["ann"] = (f"HNSW graphs; candidates {cfg.candidates} per source, efSearch "
                         f"{cfg.ann_ef_search} (passages) / {cfg.ann_ef_search_units} (units)")
    else:
        result["ann_recall_at_50"] = 1.0
        result["ann"] = "none: exact search (recall 1.0 by definition)"
    print(f"  retrieval p50 {result['retrieval_ms']['p50']:.1f} ms; dev set …", flush=True)
    outcomes = evaluation.run(retriever, evaluation.load_questions(DEV_SETS), k=10)
    report = evaluation.summarise(outcomes)
    result["devset"] = {"recall_at_5": report.groups["all"].recall[5],
                        "mrr_at_10": report.groups["all"].mrr,
                        "answerable_abstained": report.answerable_abstained,
                        "out_of_scope_abstained": report.out_of_scope_abstained,
                        "answerable": report.answerable, "out_of_scope": report.out_of_scope}
    if args.xquad:
        result["xquad"] = xquad_quality(retriever, out)
    del retriever, version
    if args.skip_service:
        return result

    # the service
    log = out / f"server-{index.name.removeprefix('index-')}.log"
    env = {"NATOQA_RATE_LIMIT": "off", "NATOQA_CACHE_SIZE": "0",
           "NATOQA_RELOAD_INTERVAL": str(RELOAD_INTERVAL),
           "NATOQA_ADMIN_TOKEN": TOKEN, "NATOQA_MAX_CONCURRENT": "64"}
    model_load_s = model_load_seconds()  # now: the same machine load as the server's start
    spawned = time.perf_counter()
    proc, url = start_server(index, log, env, ready="/readyz", timeout=3600)
    ready_s = time.perf_counter() - spawned
    result["server"] = {"spawn_to_ready_s": round(ready_s, 2),
                        "model_load_s": round(model_load_s, 2),
                        "startup_s": round(ready_s - model_load_s, 2),
                        # what the server does with the index on start, timed in this process:
                        # `natoqa serve` loads it once to check it, the lifespan again with
                        # the retriever
                        "index_part_s": round(2 * load_s + init_s, 2),
                        "rss_after_start_mib": round(_rss(proc.pid)[0])}
    try:
        client = Http(url)
        for q in questions[-5:]:
            client.ask(q)
        latencies = []
        for q in questions[n:2 * n]:
            t = time.perf_counter()
            client.ask(q)
            latencies.append((time.perf_counter() - t) * 1000)
        client.close()
        result["service_ms"] = percentiles(latencies)
        rss, peak = _rss(proc.pid)
        result["server"].update(rss_mib=round(rss), peak_rss_mib=round(peak))

        # one document changed: incremental build here, then the live switch
        before = snapshot(index)
        path, old = edit_document(corpus)
        try:
            t = time.perf_counter()
            report_b = build_index(corpus, index, args.builder)
            rebuild_s = time.perf_counter() - t
            if not report_b.switched:
                raise SystemExit("the edited document made no new index version")
            bytes_, files = written_bytes(before, snapshot(index))
            t = time.perf_counter()
            switched = wait_for_version(url, report_b.version)
            switch_s = time.perf_counter() - t
        finally:
            path.write_text(old, encoding="utf-8")
        result["rebuild"] = {"seconds": round(rebuild_s, 2), "bytes_written": bytes_,
                             "files_written": files, "timings": report_b.timings,
                             "passages_embedded": report_b.passages_embedded}
        result["server"]["switch_s"] = round(switch_s, 2)
        result["server"]["switched"] = switched == report_b.version
        rss, peak = _rss(proc.pid)
        result["server"].update(rss_after_switch_mib=round(rss), peak_rss_mib=round(peak))
        build_index(corpus, index, args.builder)  # back to the corpus as generated
        if args.switches:
            result["switches_under_load"] = switches_under_load(
                url, corpus, index, args.builder, questions, args.switches)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return result


def switches_under_load(url: str, corpus: Path, index: Path, builder: Embedder,
                        questions: list[str], switches: int = SWITCHES) -> dict[str, Any]:
    """``switches`` live switches (a document edited, then restored, ...) while two clients
    ask questions back to back: the requests that failed, and each switch's time."""
    from natoqa.index.builder import build_index

    times = []
    path, old = edit_document(corpus)
    edited = path.read_text(encoding="utf-8")
    try:
        with asking(url, questions) as tally:
            for i in range(switches):
                path.write_text(old if i % 2 else edited, encoding="utf-8")
                report = build_index(corpus, index, builder)
                t = time.perf_counter()
                seen = wait_for_version(url, report.version, timeout=600)
                times.append(round(time.perf_counter() - t, 2) if seen == report.version
                             else None)
    finally:
        path.write_text(old, encoding="utf-8")
    build_index(corpus, index, builder)
    return {"switches": switches, "switch_s": times, **tally}


def wait_for_version(url: str, version: str, timeout: float = 3600) -> str | None:
    """Poll /readyz until the server answers from ``version`` (its reloader checks CURRENT
    every RELOAD_INTERVAL s and loads the new version in a thread); returns the version.

    (``POST /api/v1/admin/reload`` would switch at once, but it is an ordinary request
    and answers 503 when the load outlasts NATOQA_REQUEST_TIMEOUT: it did at 10,000
    passages.)"""
    import httpx

    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            seen = str(httpx.get(url + "/readyz", timeout=30).json()["index"]["version"])
        if seen == version:
            return seen
        time.sleep(0.05)
    return seen


# --- output ------------------------------------------------------------------------------

COLUMNS = (
    ("passages", lambda r: f"{r['passages']:,}"),
    ("units", lambda r: f"{r['sentence_units']:,}"),
    ("vectors", lambda r: r["vectors"]),
    ("retrieval p50/p95 ms", lambda r: f"{r['retrieval_ms']['p50']:.0f} / "
                                       f"{r['retrieval_ms']['p95']:.0f}"),
    ("scoring p50 ms", lambda r: f"{r['scoring_ms']['p50']:.0f}"),
    ("HTTP p50/p95 ms", lambda r: f"{r['service_ms']['p50']:.0f} / {r['service_ms']['p95']:.0f}"),
    ("server RSS MiB", lambda r: f"{r['server']['rss_mib']:,}"),
    ("start-up s", lambda r: f"{r['server']['startup_s']:.1f}"),
    ("switch s", lambda r: f"{r['server']['switch_s']:.1f}"),
    ("index MB", lambda r: f"{r['index_bytes'] / 1e6:,.0f}"),
    ("1-doc rebuild MB", lambda r: f"{r['rebuild']['bytes_written'] / 1e6:,.0f}"),
    ("build passages/s", lambda r: "(synthetic)" if r["build"]["synthetic"]
        else f"{r['build']['passages_per_s']:.2f}"),
    ("build peak RSS MiB", lambda r: f"{r['build']['peak_rss_mib']:,}"),
    ("ANN R@50", lambda r: f"{r['ann_recall_at_50']:.3f}" if "ann_recall_at_50" in r else ""),
    ("graph R@50 passages / units", lambda r: " / ".join(
        f"{v:.3f}" for v in r.get("graph_recall_at_50", {}).values())),
    ("failed / asked in 5 switches", lambda r: (
        f"{r['switches_under_load']['requests_failed']} / "
        f"{r['switches_under_load']['requests_ok'] + r['switches_under_load']['requests_failed']}"
        if "switches_under_load" in r else "")),
    ("dev R@5", lambda r: f"{r['devset']['recall_at_5']:.3f}"),
    ("abstained ans./oos", lambda r: f"{r['devset']['answerable_abstained']:.2f} / "
                                     f"{r['devset']['out_of_scope_abstained']:.2f}"),
    ("XQuAD R@5 de / en, abstained", lambda r: (
        f"{r['xquad']['recall_at_5_de']:.3f} / {r['xquad']['recall_at_5_en']:.3f}, "
        f"{r['xquad']['answerable_abstained']:.3f}")),
)


def table(rows: list[dict[str, Any]]) -> str:
    def show(cell: Callable[[dict[str, Any]], str], row: dict[str, Any]) -> str:
        try:
            return cell(row)
        except KeyError:  # --skip-service
            return "n/a"

    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(show(cell, r) for _, cell in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_build-synthetic":
        rest = sys.argv[2:]
        internal_build_synthetic(Path(rest[0]), Path(rest[1]),
                                 Path(rest[2]) if len(rest) > 2 else None)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="Corpus sizes in passages, comma-separated.")
    parser.add_argument("--out", type=Path, default=Path("/tmp/natoqa-scale"),
                        help="Corpora, indexes and logs; reused by a rerun.")
    parser.add_argument("--questions", type=int, default=50,
                        help="Distinct questions, in-process and over HTTP each.")
    parser.add_argument("--synthetic-vectors", action="store_true",
                        help="Synthesise passage vectors from a pool of real ones (fast builds; "
                             "build throughput is then not measured).")
    parser.add_argument("--seed", type=int, default=17, help="Corpus generator seed.")
    parser.add_argument("--distractors", choices=scale_corpus.DISTRACTORS, default="generated",
                        help="What fills the corpus beyond the bundled corpus and XQuAD: "
                        "'generated' text, or 'prose': real German texts that Debian packages "
                        "install (bench/german_prose.py), generated text once they run out.")
    parser.add_argument("--seed-index", type=Path,
                        help="With --synthetic-vectors: a real index whose vectors are reused "
                             "and perturbed (default: the largest real index in --out).")
    parser.add_argument("--xquad", action="store_true",
                        help="Also run XQuAD's questions (2,368 with a gold sentence; minutes "
                        "per size) and report R@1/R@5 and abstention.")
    parser.add_argument("--skip-service", action="store_true",
                        help="Build and measure in-process only: no server, rebuild or switch.")
    parser.add_argument("--switches", type=int, default=SWITCHES,
                        help="Live switches under load after the one-document rebuild "
                        "(0: none; each is a rebuild).")
    parser.add_argument("--exact-recall-max", type=int, default=20_000,
                        help="Largest size at which the end-to-end recall against an exact "
                        "search of every passage is measured (the graphs' own recall is "
                        "measured at every size).")
    parser.add_argument("--warm-cache", action="store_true",
                        help="Read the version's files once before timing questions in "
                        "process, as a server that has run a while finds them (default: as "
                        "the page cache happens to be; its size is recorded either way).")
    parser.add_argument("--merge", action="store_true",
                        help="Merge each index's segments into one ('natoqa index merge') "
                        "after its build, before measuring; its time and peak RSS are "
                        "recorded.")
    parser.add_argument("--json", type=Path, help="Write every figure here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]

    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder

    if args.synthetic_vectors:
        print(f"*** {SYNTHETIC_NOTE} ***", flush=True)
    questions = load_questions()
    if len(questions) < 2 * args.questions + 5:
        raise SystemExit(f"only {len(questions)} questions")
    settings = load_settings()
    embedder = load_embedder(settings)
    rows = []
    for size in sizes:
        print(f"== {size:,} passages ({'synthesised' if args.synthetic_vectors else 'real'} "
              "vectors)", flush=True)
        args.builder = embedder
        if args.synthetic_vectors:  # the one-document rebuild synthesises like the build
            args.builder = synthetic_embedder(embedder, seed_index_for(args, size), args.out)
        rows.append(measure_size(size, args, embedder, questions))
        print(json.dumps(rows[-1], indent=1, default=str), flush=True)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "synthetic_vectors": args.synthetic_vectors,
        "note": SYNTHETIC_NOTE if args.synthetic_vectors else "real embeddings",
        "machine": {"cpus": os.cpu_count(), "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                    "backend": settings.backend, "torch_threads": settings.torch_threads,
                    "bench_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF)
                                                .ru_maxrss / 1024)},
        "sizes": rows,
    }
    print()
    if args.synthetic_vectors:
        print(f"*** {SYNTHETIC_NOTE}; build passages/s not measured ***")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
        print(f"figures in {args.json}")


if __name__ == "__main__":
    main()
