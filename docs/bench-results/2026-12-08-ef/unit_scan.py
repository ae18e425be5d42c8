"""Unit candidates at 10,000 real passages: shipped HNSW against compressed flat scans
(PQ fast-scan, SQ) with exact refinement, IVF fast-scan, and a shifted-query walk.
Recall of the exact 50 nearest units among the 200 returned; ms per query, 1 thread.

    IDX=/tmp/natoqa-scale/index-10000-real-prose PYTHONPATH=src python unit_scan.py
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, "/work/main/bench")
import faiss  # noqa: E402
import numpy as np  # noqa: E402
from service import load_questions  # noqa: E402

from natoqa.config import Settings  # noqa: E402
from natoqa.embed.base import load_embedder  # noqa: E402

faiss.omp_set_num_threads(1)
K, W = 50, 200
IDX = os.environ.get("IDX", "/tmp/natoqa-scale/index-10000-real-prose")
current = open(f"{IDX}/CURRENT").read().strip()
folder = f"{IDX}/versions/{current}/segments"
seg = max((os.path.join(folder, s) for s in os.listdir(folder)),
          key=lambda d: os.path.getsize(os.path.join(d, "passage_vectors.npy")))
X = np.ascontiguousarray(np.load(f"{seg}/sentence_vectors.npy").astype(np.float32))
units = faiss.read_index(f"{seg}/sentence.ann.faiss")
embedder = load_embedder(Settings())
dev = load_questions()
xq = [json.loads(line)["question"] for line in open("/tmp/natoqa-scale/xquad-questions.jsonl")]
rng = np.random.default_rng(1)
xq = [xq[i] for i in rng.choice(len(xq), 200, replace=False)]
# tuning questions (for delta and parameter choice): dev first 60; held out: dev last 40 + 200 XQuAD
Qtune = np.ascontiguousarray(embedder.embed_batch(dev[:60], kind="query"), dtype=np.float32)
Qheld = np.ascontiguousarray(embedder.embed_batch(dev[-40:] + xq, kind="query"), dtype=np.float32)
print(f"{len(X)} units; tune {len(Qtune)}, held out {len(Qheld)}", flush=True)
truth = {}
for name, Q in (("tune", Qtune), ("held", Qheld)):
    truth[name] = [set(np.argpartition(-(X @ q), K)[:K].tolist()) for q in Q]


def recall(name, found):
    return float(np.mean([len(t & set(r.tolist())) / K for t, r in zip(truth[name], found)]))


def timed(fn, Q):
    t = time.perf_counter()
    found = [fn(q) for q in Q]
    return found, (time.perf_counter() - t) / len(Q) * 1e3


def report(label, fn):
    out = []
    for name, Q in (("tune", Qtune), ("held", Qheld)):
        found, ms = timed(fn, Q)
        out.append(f"{name} {recall(name, found):.3f} {ms:.2f} ms")
    print(f"{label:45s} " + " | ".join(out), flush=True)


def hnsw(ef):
    p = faiss.SearchParametersHNSW(efSearch=ef)
    return lambda q: units.search(q[None], W, params=p)[1][0]


report("hnsw ef128 (shipped)", hnsw(128))
report("hnsw ef400", hnsw(400))


def refine(index, k_factor):
    def fn(q):
        _, rows = index.search(q[None], W * k_factor)
        rows = rows[0][rows[0] >= 0]
        return rows[np.argsort(-(X[rows] @ q))][:W]
    return fn


for m in (48, 96):
    t = time.perf_counter()
    pq = faiss.IndexPQFastScan(X.shape[1], m, 4, faiss.METRIC_INNER_PRODUCT)
    pq.train(X[rng.choice(len(X), 50000, replace=False)])
    pq.add(X)
    print(f"PQ{m}x4fs built in {time.perf_counter() - t:.0f} s, {m // 2 * len(X) / 1e6:.1f} MB",
          flush=True)
    for kf in (1, 2, 5):
        report(f"PQ{m}x4fs flat, refine top {W * kf}", refine(pq, kf))

for sq, name in ((faiss.ScalarQuantizer.QT_4bit, "SQ4"), (faiss.ScalarQuantizer.QT_8bit, "SQ8")):
    flat = faiss.IndexScalarQuantizer(X.shape[1], sq, faiss.METRIC_INNER_PRODUCT)
    flat.train(X[:50000])
    flat.add(X)
    for kf in (1, 2):
        report(f"{name} flat, refine top {W * kf}", refine(flat, kf))

# shifted query: walk toward the units' distribution, rerank exactly
delta = Qtune.mean(0) - X[rng.choice(len(X), 20000, replace=False)].mean(0)
for ef, kf in ((128, 1), (128, 2), (256, 2)):
    p = faiss.SearchParametersHNSW(efSearch=ef)

    def shifted(q, p=p, kf=kf):
        s = q - delta
        s = (s / np.linalg.norm(s)).astype(np.float32)
        rows = units.search(s[None], W * kf, params=p)[1][0]
        rows = rows[rows >= 0]
        return rows[np.argsort(-(X[rows] @ q))][:W]
    report(f"hnsw shifted query ef{ef}, refine top {W * kf}", shifted)
