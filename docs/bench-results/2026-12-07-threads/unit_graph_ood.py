"""Why the unit graph misses recall@50 >= 0.99 at 10,000 real passages (docs/SCALE.md, "Why the
unit graph stays at 0.90"). On the largest segment of an index built by bench/scale.py:

    IDX=/tmp/natoqa-scale/index-10000-real PYTHONPATH=src python unit_graph_ood.py

Prints, for 100 questions of the development set (60 first, 40 last of bench/service.py's list):
the shipped graph's recall of the exact 50 nearest units among the 200 it returns, for question
vectors, for unit vectors and for passage vectors as queries; how flat the exact similarities
are; recall by efSearch; and two ways of seeding the walk from the passage graph's answer."""
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
import faiss  # noqa: E402
import numpy as np  # noqa: E402
from service import load_questions  # noqa: E402

from natoqa.config import Settings  # noqa: E402
from natoqa.embed.base import load_embedder  # noqa: E402

faiss.omp_set_num_threads(1)
K, W = 50, 200
IDX = os.environ.get("IDX", "/tmp/natoqa-scale/index-10000-real")
current = open(f"{IDX}/CURRENT").read().strip()
folder = f"{IDX}/versions/{current}/segments"
seg = max((os.path.join(folder, s) for s in os.listdir(folder)),
          key=lambda d: os.path.getsize(os.path.join(d, "passage_vectors.npy")))
X = np.load(f"{seg}/sentence_vectors.npy").astype(np.float32)
P = np.load(f"{seg}/passage_vectors.npy").astype(np.float32)
owner = np.load(f"{seg}/sentence_rows.npy")
first, last = (np.searchsorted(owner, np.arange(len(P)), side=s) for s in ("left", "right"))
units = faiss.read_index(f"{seg}/sentence.ann.faiss")
passages = faiss.read_index(f"{seg}/passages.ann.faiss")
questions = load_questions()
Q = np.ascontiguousarray(load_embedder(Settings()).embed_batch(
    questions[:60] + questions[-40:], kind="query"), dtype=np.float32)
print(f"{len(X)} units, {len(P)} passages, {len(Q)} questions")


def ef(n: int) -> object:
    return faiss.SearchParametersHNSW(efSearch=n)


def recall(queries: np.ndarray, found: list[np.ndarray]) -> float:
    truth = [set(np.argpartition(-(X @ q), K)[:K].tolist()) for q in queries]
    return float(np.mean([len(t & set(r.tolist())) / K for t, r in zip(truth, found)]))


def walk(queries: np.ndarray, n: int = 200) -> list[np.ndarray]:
    return [units.search(q[None], W, params=ef(n))[1][0] for q in queries]


rng = np.random.default_rng(0)
as_units = X[rng.choice(len(X), 100, replace=False)]
as_passages = P[rng.choice(len(P), 100, replace=False)]
print(f"recall@50 in the 200 returned, efSearch 200: questions {recall(Q, walk(Q)):.3f}, "
      f"unit vectors {recall(as_units, walk(as_units)):.3f}, "
      f"passage vectors {recall(as_passages, walk(as_passages)):.3f}")
ranked = -np.sort(-(Q @ X.T), axis=1)
print("questions' exact cosine at rank 1 / 50 / 200 / 1,000 / median:",
      " / ".join(f"{ranked[:, r].mean():.3f}" for r in (0, 49, 199, 999, len(X) // 2)))
for n in (200, 400, 800, 1600, 3200):
    t = time.perf_counter()
    found = walk(Q, n)
    ms = (time.perf_counter() - t) / len(Q) * 1e3
    print(f"efSearch {n:5d}: recall {recall(Q, found):.3f}, {ms:.2f} ms a walk")

# seeding: the units of the passage graph's 10 best as entry points of a level-0 walk, or
# the 4 best passages' vectors walked as extra queries (their 50 nearest units added)
seeded, extra = [], []
for q in Q:
    _, best = passages.search(q[None], 10, params=ef(200))
    seeds = np.concatenate([np.arange(first[r], last[r]) for r in best[0] if r >= 0])
    seeds = seeds[np.argsort(-(X[seeds] @ q))][:8].astype(np.int32)[None].copy()
    near = (-(X[seeds[0]] @ q)).astype(np.float32)[None].copy()  # HNSW negates similarity
    query = q[None].copy()
    dist, rows = np.empty((1, W), np.float32), np.empty((1, W), np.int64)
    units.search_level_0(1, faiss.swig_ptr(query), W, faiss.swig_ptr(seeds),
                         faiss.swig_ptr(near), faiss.swig_ptr(dist), faiss.swig_ptr(rows),
                         seeds.shape[1], 1, ef(200))
    seeded.append(rows[0])
    own = walk(q[None])[0]
    _, more = units.search(np.ascontiguousarray(P[best[0][:4]]), K, params=ef(200))
    pool = np.unique(np.concatenate([own, more.ravel()]))
    pool = pool[pool >= 0]
    extra.append(pool[np.argsort(-(X[pool] @ q))][:W])
print(f"level-0 walk from the best passages' units: {recall(Q, seeded):.3f}; "
      f"plus walks from the 4 best passages' vectors: {recall(Q, extra):.3f}")
