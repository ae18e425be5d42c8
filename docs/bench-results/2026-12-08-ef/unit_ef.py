"""Unit graph recall of the exact 50 nearest units among the 200 returned, by efSearch, on the
largest segment of each 10,000-passage index; tuned (dev 60) and held-out (dev 40 + 200 XQuAD)."""
import json, os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, "/work/main/bench")
import faiss, numpy as np
from service import load_questions
from natoqa.config import Settings
from natoqa.embed.base import load_embedder
faiss.omp_set_num_threads(1)
K, W = 50, 200
emb = load_embedder(Settings())
dev = load_questions()
xq = [json.loads(l)["question"] for l in open("/tmp/natoqa-scale/xquad-questions.jsonl")]
rng = np.random.default_rng(1)
xq = [xq[i] for i in rng.choice(len(xq), 200, replace=False)]
Q = {k: np.ascontiguousarray(emb.embed_batch(v, kind="query"), dtype=np.float32)
     for k, v in {"tuned": dev[:60], "held out": dev[-40:] + xq}.items()}
for idx in ("index-10000-real-prose", "index-10000-real"):
    root = f"/tmp/natoqa-scale/{idx}"
    folder = f"{root}/versions/{open(f'{root}/CURRENT').read().strip()}/segments"
    seg = max((os.path.join(folder, s) for s in os.listdir(folder)),
              key=lambda d: os.path.getsize(os.path.join(d, "passage_vectors.npy")))
    X = np.load(f"{seg}/sentence_vectors.npy").astype(np.float32)
    g = faiss.read_index(f"{seg}/sentence.ann.faiss")
    for name, q in Q.items():
        truth = [set(np.argpartition(-(X @ v), K)[:K].tolist()) for v in q]
        out = []
        for ef in (200, 400):
            found = [g.search(v[None], W, params=faiss.SearchParametersHNSW(efSearch=ef))[1][0] for v in q]
            out.append(f"ef{ef} {np.mean([len(a & set(b.tolist())) / K for a, b in zip(truth, found)]):.3f}")
        print(f"{idx} ({len(X)} units) {name}: " + "  ".join(out), flush=True)
