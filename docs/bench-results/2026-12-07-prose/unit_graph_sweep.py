"""ANN variants on the real 10,000-passage index's vectors (docs/SCALE.md, "Real German prose as distractors"):
   python unit_graph_sweep.py units "HNSW32,SQ4@200" "IVF1024,SQ8"; recall of the exact 50 among the 200 returned, ms a query."""
import os, sys, time, json
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, "/work/main/bench")
import numpy as np, faiss
from service import load_questions
from natoqa.config import Settings
from natoqa.embed.base import load_embedder
faiss.omp_set_num_threads(1)
IDX = os.environ.get("IDX", "/tmp/natoqa-scale/index-10000-real")
seg = sorted(os.popen(f"ls -d {IDX}/versions/$(cat {IDX}/CURRENT)/segments/*/").read().split(), key=lambda d: -os.path.getsize(d + "passage_vectors.npy"))
print(seg)
d = seg[0]
kind = sys.argv[1]
specs = sys.argv[2:]
X = np.load(d + ("sentence_vectors.npy" if kind == "units" else "passage_vectors.npy")).astype(np.float32)
print(X.shape, flush=True)
emb = load_embedder(Settings())
qs = load_questions()
Q = emb.embed_batch(qs[:60] + qs[-40:], kind="query")
Q = np.ascontiguousarray(Q, dtype=np.float32)
truth = [set(np.argpartition(-(X @ q), 50)[:50].tolist()) for q in Q]
for spec in specs:
    name, _, efc = spec.partition("@")
    t0 = time.time()
    index = faiss.index_factory(X.shape[1], name, faiss.METRIC_INNER_PRODUCT)
    if "HNSW" in name:
        faiss.ParameterSpace().set_index_parameter(index, "efConstruction", int(efc or 200))
    if not index.is_trained:
        index.train(X[np.random.default_rng(0).choice(len(X), min(len(X), 100000), replace=False)])
    index.add(X)
    build = time.time() - t0
    size = faiss.serialize_index(index).nbytes
    for p in ([200, 400, 800] if "HNSW" in name else [int(x) for x in os.environ.get("NPROBES", "16,32,64,128").split(",")]):
        if "HNSW" in name:
            params = faiss.SearchParametersHNSW(efSearch=max(p, 200))
        else:
            params = faiss.SearchParametersIVF(nprobe=p)
        index.search(Q[:5], 200, params=params)
        t0 = time.perf_counter()
        _, I = index.search(Q, 200, params=params)
        ms = (time.perf_counter() - t0) / len(Q) * 1000
        # one by one as retrieval does (one or two queries)
        t0 = time.perf_counter()
        for q in Q[:40]:
            index.search(q[None], 200, params=params)
        ms1 = (time.perf_counter() - t0) / 40 * 1000
        rec = np.mean([len(t & set(r.tolist())) / 50 for t, r in zip(truth, I)])
        print(f"{kind} {spec:22s} p={p:4d} recall {rec:.4f} batch {ms:.2f} ms/q single {ms1:.2f} ms/q build {build:.0f}s size {size/1e6:.0f}MB", flush=True)
