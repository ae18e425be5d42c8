"""ANN recall on the real 10,000 index per (candidates, efSearch): graphs and end to end, and the time."""
import os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, "/work/main/bench")
import numpy as np
import scale
from service import load_questions
from natoqa.config import Settings
from natoqa.embed.base import load_embedder
from natoqa.index.store import IndexStore
from natoqa.retrieve.retriever import Retriever
emb = load_embedder(Settings())
version = IndexStore("/tmp/natoqa-scale/index-10000-real").load()
base = Retriever(version, emb).settings
questions = load_questions()
sample, held = questions[:20], questions[60:100]
exact = scale.exact_search(Retriever(version, emb, base.model_copy(update={"exact": True})))
vecs = emb.embed_batch(sample + held, kind="query")
for cands, ef in [(200, 128), (200, 400), (400, 400), (800, 800)]:
    r = Retriever(version, emb, base.model_copy(update={"candidates": cands, "ann_ef_search": ef}))
    for q in questions[100:105]: r.search(q)
    t = []
    for q in questions[105:135]:
        res = r.search(q); t.append(res.timings["search_ms"])
    a = scale.ann_recall(scale.exact_search(r), exact, sample)
    b = scale.ann_recall(scale.exact_search(r), exact, held)
    g = scale.graph_recall(version, vecs, width=cands, ef=ef)
    print(f"candidates {cands} ef {ef}: end-to-end R@50 bench-20 {a:.3f}, other-40 {b:.3f}; graphs 50@{cands} {g}; scoring p50 {np.percentile(t, 50):.1f} ms p95 {np.percentile(t, 95):.1f}", flush=True)
