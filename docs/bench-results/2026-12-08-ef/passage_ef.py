"""Passage graph recall of the exact 50 nearest passages among the 200 returned, by efSearch,
on each segment of the 10,000-passage indexes; dev questions (first 60 / last 40) and 200 XQuAD."""
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, "/work/main/bench")
import faiss, numpy as np
from service import load_questions
from natoqa.config import Settings
from natoqa.embed.base import load_embedder
faiss.omp_set_num_threads(1)
K, W = 50, 200
EFS = [int(e) for e in os.environ.get("EFS", "128,256,400,800").split(",")]
emb = load_embedder(Settings())
dev = load_questions()
xq = [json.loads(l)["question"] for l in open("/tmp/natoqa-scale/xquad-questions.jsonl")]
rng = np.random.default_rng(1)
xq = [xq[i] for i in rng.choice(len(xq), 200, replace=False)]
sets = {"dev60": dev[:60], "dev40+xq200": dev[-40:] + xq}
Q = {k: np.ascontiguousarray(emb.embed_batch(v, kind="query"), dtype=np.float32) for k, v in sets.items()}
for idx in ("index-10000-real-prose", "index-10000-real"):
    root = f"/tmp/natoqa-scale/{idx}"
    cur = open(f"{root}/CURRENT").read().strip()
    folder = f"{root}/versions/{cur}/segments"
    for s in sorted(os.listdir(folder)):
        seg = os.path.join(folder, s)
        if not os.path.exists(f"{seg}/passages.ann.faiss"):
            continue
        P = np.load(f"{seg}/passage_vectors.npy").astype(np.float32)
        g = faiss.read_index(f"{seg}/passages.ann.faiss")
        for name, q in Q.items():
            truth = [set(np.argpartition(-(P @ v), K)[:K].tolist()) for v in q]
            out = []
            for ef in EFS:
                p = faiss.SearchParametersHNSW(efSearch=ef)
                t = time.perf_counter()
                found = [g.search(v[None], W, params=p)[1][0] for v in q]
                ms = (time.perf_counter() - t) / len(q) * 1e3
                r = np.mean([len(a & set(b.tolist())) / K for a, b in zip(truth, found)])
                out.append(f"ef{ef} {r:.3f} {ms:.2f}ms")
            print(f"{idx} {s} ({len(P)}) {name}: " + "  ".join(out), flush=True)
