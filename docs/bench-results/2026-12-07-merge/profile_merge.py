"""RSS at each step of a merge (copy, lexicon, names, graphs) of an index's segments."""
import sys, time, shutil
from pathlib import Path
import numpy as np
from natoqa.index.store import IndexStore, VersionPassages
from natoqa.index import merge, ann, artifacts
from natoqa.index import units as su
from natoqa.index.lexicon import Lexicon
from natoqa.text.analyzer import identifiers

def mem(tag):
    d = {l.split(":")[0]: int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM"))}
    print(f"{time.strftime('%T')} {tag:30s} rss {d['VmRSS']} hwm {d['VmHWM']}", flush=True)

store = IndexStore(Path(sys.argv[1]))
v = store.load(); mem("loaded")
spill = Path(sys.argv[2]); shutil.rmtree(spill, ignore_errors=True)
segs = list(v.segments)
passages = VersionPassages(segs, np.cumsum([0, *(len(s.live) for s in segs)]))
vectors = merge._copy(spill / "passage_vectors.npy", [(s.vectors, s.live) for s in segs]); mem("passage vectors copied")
units = [merge._unit_rows(s) for s in segs]
extras = {}
for name in sorted(set(merge.UNIT_ARRAYS) & set(segs[0].extras)):
    extras[name] = merge._copy(spill / name, [(s.extras[name], keep) for s, (_, keep, _) in zip(segs, units)])
mem("unit arrays copied")
texts = [p.text for p in passages]; mem("texts")
lex = dict(Lexicon.build(texts).files()); mem("lexicon")
del texts
names = sorted(set().union(*(identifiers(p.text) for p in passages))); mem("names")
pg = ann.build(vectors, ann.SPECS[ann.PASSAGES_FILE]); mem("passage graph")
if len(sys.argv) < 4: ug = ann.build(extras[su.VECTORS_FILE], ann.SPECS[ann.UNITS_FILE]); mem("unit graph")
