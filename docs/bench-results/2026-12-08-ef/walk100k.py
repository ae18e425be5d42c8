"""Walk times on the merged 100,003-passage segment by efSearch, 1 thread; 100 questions."""
import os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, "/work/main/bench")
import faiss, numpy as np
from service import load_questions
from natoqa.config import Settings
from natoqa.embed.base import load_embedder
faiss.omp_set_num_threads(1)
Q = np.ascontiguousarray(load_embedder(Settings()).embed_batch(load_questions()[:100], kind="query"), dtype=np.float32)
root = sys.argv[1]
cur = open(f"{root}/CURRENT").read().strip()
folder = f"{root}/versions/{cur}/segments"
seg = max((os.path.join(folder, s) for s in os.listdir(folder)),
          key=lambda d: os.path.getsize(os.path.join(d, "passage_vectors.npy")))
for name in ("passages.ann.faiss", "sentence.ann.faiss"):
    g = faiss.read_index(f"{seg}/{name}")
    for rep in range(2):
        out = []
        for ef in (128, 256, 400, 800):
            p = faiss.SearchParametersHNSW(efSearch=ef)
            t = time.perf_counter()
            for v in Q:
                g.search(v[None], 200, params=p)
            out.append(f"ef{ef} {(time.perf_counter() - t) / len(Q) * 1e3:.2f}ms")
        print(name, g.ntotal, " ".join(out), flush=True)
