"""Generate a corpus of German documents from the XQuAD paragraphs, for build benchmarks.

The 240 German XQuAD paragraphs (48 Wikipedia articles) are read from the
shared benchmark folder, not copied into the repository. Each paragraph is one
document; to reach ``--documents`` the longest documents are halved at the
sentence boundary nearest their middle until there are enough. Every document
is a ``.txt`` file with YAML front matter (title, language, kind).

    .venv/bin/python bench/make_corpus.py /tmp/natoqa-bench/corpus --documents 320
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from natoqa.text.sentences import sentence_spans

XQUAD = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "xquad_de" / "corpus.jsonl"


@dataclass
class Unit:
    title: str
    part: int
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def _halves(unit: Unit) -> tuple[Unit, Unit] | None:
    spans = sentence_spans(unit.text)
    if len(spans) < 2:
        return None
    middle = len(unit.text) / 2
    cut = min(range(1, len(spans)), key=lambda i: abs(spans[i][0] - middle))
    at = spans[cut][0]
    return (
        Unit(unit.title, unit.part, unit.text[:at].strip()),
        Unit(unit.title, unit.part, unit.text[at:].strip()),
    )


def make_units(source: Path, documents: int) -> list[Unit]:
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line]
    units = [Unit(r["title"], 0, r["text"]) for r in rows]
    while len(units) < documents:
        for i in sorted(range(len(units)), key=lambda i: -units[i].words):
            halves = _halves(units[i])  # None for a single (list-like) sentence
            if halves is not None:
                units[i : i + 1] = list(halves)
                break
        else:
            raise SystemExit(f"cannot make {documents} documents from {source}")
    numbers: dict[str, int] = {}
    for u in units:  # number the parts of each article in reading order
        numbers[u.title] = numbers.get(u.title, 0) + 1
        u.part = numbers[u.title]
    return units


def document_text(unit: Unit) -> str:
    title = f"{unit.title}, Teil {unit.part}".replace('"', "'")
    return (
        "---\n"
        f'title: "{title}"\n'
        "language: de\n"
        "kind: Lexikonartikel\n"
        "publisher: XQuAD (Wikipedia, CC BY-SA 4.0)\n"
        "---\n\n"
        f"{unit.text}\n"
    )


def make_corpus(out: Path, documents: int = 320, source: Path = XQUAD) -> list[Path]:
    """Write the corpus into ``out`` (replaced); returns the document paths."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    paths = []
    for i, unit in enumerate(make_units(source, documents)):
        path = out / f"xquad_{i:04d}.txt"
        path.write_text(document_text(unit), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="Folder to write (replaced if it exists).")
    parser.add_argument("--documents", type=int, default=320, help="At least this many.")
    parser.add_argument("--source", type=Path, default=XQUAD, help="XQuAD corpus.jsonl.")
    args = parser.parse_args()
    paths = make_corpus(args.out, args.documents, args.source)
    words = sum(len(p.read_text(encoding="utf-8").split()) for p in paths)
    print(f"wrote {len(paths)} documents ({words} words) to {args.out}")


if __name__ == "__main__":
    main()
