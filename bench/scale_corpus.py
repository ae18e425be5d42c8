"""Corpora of a given number of passages for bench/scale.py: real German text first, then
generated German text, deterministic by seed.

A corpus of ``passages`` passages holds, in this order:

1. the bundled corpus (``corpus/``, 2 documents, 101 passages) copied unchanged, so that
   the development set's gold quotes (eval/devset.jsonl, followups.jsonl) are in every
   corpus and dev-set recall can be measured at every size;
2. XQuAD's 240 German Wikipedia paragraphs (``../shared/benchmarks/xquad_de``), one
   document per article (48), one paragraph per passage (as far as the splitter keeps them);
3. generated documents until the target is reached: 10-30 paragraphs each, every
   paragraph 105-190 words, which natoqa's splitter (min 60, max 200 words, cut at
   paragraph ends) keeps as exactly one passage. A paragraph is a run of real sentences
   of XQuAD's *source* articles (every second article, :func:`split_articles`) and of
   nothing else: no sentence of the bundled corpus or of a *measured* article, whose
   questions are the ones measured (:func:`xquad_questions`). So no distractor holds an
   answer, a neighbour of one or a sentence on the same subject of a measured question
   (issue 17: "distractors that do not contain the answers"); an earlier generator drew
   on every source, and its copies of the gold quotes' neighbours took the top ranks.
   About one word in nine is swapped for a noun of all the sources (the bundled corpus
   included, so the distractors share the study's vocabulary) and four-digit years are
   changed, so that passages and sentence units are nearly all distinct texts (the
   builder embeds identical texts once, which would flatter its throughput).
   Each document has a ``NAME.meta.toml`` sidecar (title, authors, publisher, date,
   language, kind, series) like ``corpus/*.meta.toml``.
   With ``distractors="prose"`` real German texts come first (:mod:`german_prose`:
   manuals, manual pages, fortune files that Debian packages install), generated ones
   only once those are used up (:func:`prose_documents`).

Generation is sequential from one seeded generator, so the corpus of 10,000 passages
starts with the documents of the corpus of 1,000 (same seed): vectors of a smaller
corpus's index can be reused for a larger one.

Pure logic (no model); ``tests/test_bench_scale.py`` checks it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import german_prose

from natoqa.ingest import passages as splitter
from natoqa.text.sentences import sentence_spans

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "corpus"
XQUAD = ROOT.parent / "shared" / "benchmarks" / "xquad_de" / "corpus.jsonl"
XQUAD_QUERIES = XQUAD.with_name("queries.jsonl")
GOLD_FILES = (ROOT / "eval" / "devset.jsonl", ROOT / "eval" / "followups.jsonl")

#: paragraph length in words: > min_words (60), <= max_words (200), and two together
#: > 200, so the splitter cuts at every paragraph end: one paragraph, one passage
PARAGRAPH_WORDS = (105, 190)
DOCUMENT_PARAGRAPHS = (10, 30)
#: a generated passage swaps about one word in this many for another noun of the pool
SWAP_EVERY = 9
GENERATED_DIR = "generated"
PROSE_DIR = "prose"
#: what the corpus is filled with after the bundled corpus and XQuAD
DISTRACTORS = ("generated", "prose")
#: bumped whenever the generator makes other text for the same seed (bench/scale.py
#: regenerates a corpus of another generator)
GENERATOR = 2
#: every SOURCE_EVERY-th XQuAD article is a source of distractors, not measured
SOURCE_EVERY = 2
XQUAD_DIR = "xquad"

_NOUN = re.compile(r"(?<=\w )[A-ZÄÖÜ][a-zäöüß]{3,}\b")
_YEAR = re.compile(r"\b(1[89]\d\d|20[0-4]\d)\b")

FIRST_NAMES = ("Anna", "Jonas", "Lena", "Matthias", "Sabine", "Thomas", "Julia", "Stefan",
               "Katrin", "Michael", "Claudia", "Andreas", "Miriam", "Felix", "Ute", "Tobias",
               "Hanna", "Markus", "Petra", "Florian", "Elif", "Jan", "Carola", "Dirk")
LAST_NAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
              "Hoffmann", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Braun",
              "Zimmermann", "Krüger", "Hartmann", "Lange", "Werner", "Krause", "Lehmann",
              "Kaya", "Nowak", "Brandt")
PUBLISHERS = ("Stiftung Wissenschaft und Politik, Berlin", "Friedrich-Ebert-Stiftung e.V., Bonn",
              "Konrad-Adenauer-Stiftung e.V., Berlin", "Bundeszentrale für politische Bildung",
              "Deutsche Gesellschaft für Auswärtige Politik", "Heinrich-Böll-Stiftung",
              "Institut für Sicherheitspolitik an der Universität Kiel", "dpa", "AFP",
              "Deutschlandfunk", "Hessische Stiftung Friedens- und Konfliktforschung")
KINDS = ("Policy study", "News article", "Analyse", "Kommentar", "Arbeitspapier",
         "Hintergrund", "Interview")
SERIES = ("Sicherheitspolitik kompakt", "Perspektiven", "Analysen und Argumente",
          "Arbeitspapier Sicherheitspolitik", "Standpunkt", None, None, None)
TITLES = ("{a} und {b}: eine Bestandsaufnahme", "Die Zukunft der {a}",
          "{a} im Wandel. Was {b} für Europa bedeutet", "Zwischen {a} und {b}",
          "{a}: Herausforderungen und Optionen", "Neue Wege in der {a}",
          "Was folgt aus {a}? Lehren für {b}", "{a}, {b} und die Frage der {c}")


@dataclass(frozen=True)
class Pool:
    """The real sentences generated text is made of, and the nouns swapped into them."""

    sentences: tuple[str, ...]
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    name: str  # path relative to the corpus folder, without suffix
    paragraphs: tuple[str, ...]
    meta: dict[str, object]


def gold_quotes(files: Iterable[Path] = GOLD_FILES) -> list[str]:
    quotes: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                quotes.extend(json.loads(line).get("gold", []))
    return quotes


def xquad_answer_sentences(source: Path = XQUAD, queries: Path = XQUAD_QUERIES) -> list[str]:
    """The sentences of the measured XQuAD paragraphs that hold one of their questions'
    answers: no generated distractor contains one (they are made of other articles)."""
    return list(dict.fromkeys(s for q in xquad_questions(source, queries) for s in q["gold"]))


def xquad_questions(source: Path = XQUAD, queries: Path = XQUAD_QUERIES, *,
                    measured_only: bool = True) -> list[dict[str, Any]]:
    """XQuAD's questions in the development-set format, each with the sentences of its
    paragraph that hold its answer as gold quotes (a passage is found when it holds one);
    ``measured_only``: those of the measured articles (:func:`split_articles`)."""
    if not (source.is_file() and queries.is_file()):
        return []
    rows = list(_rows(source))
    paragraphs = {row["id"]: _normalise(row["text"]) for row in rows}
    measured, _ = split_articles(xquad_articles(source))
    allowed = {row["id"] for row in rows if not measured_only or row["title"] in measured}
    questions = []
    for query in _rows(queries):
        gold: dict[str, None] = {}
        for pid in query.get("gold_ids", []):
            text = paragraphs.get(pid, "") if pid in allowed else ""
            for a, b in sentence_spans(text):
                if any(answer in text[a:b] for answer in query.get("answers", [])):
                    gold.setdefault(text[a:b].strip(), None)
        if gold:
            questions.append({"id": query["id"], "lang": query["lang"],
                              "question": query["question"], "gold": list(gold)})
    return questions


def split_articles(articles: dict[str, list[str]]) -> tuple[dict[str, list[str]],
                                                             dict[str, list[str]]]:
    """XQuAD's articles as (measured, sources): every SOURCE_EVERY-th, in file order, is a
    source of generated distractors and its questions are not measured."""
    items = list(articles.items())
    return ({t: p for i, (t, p) in enumerate(items) if (i + 1) % SOURCE_EVERY},
            {t: p for i, (t, p) in enumerate(items) if not (i + 1) % SOURCE_EVERY})


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def xquad_articles(source: Path = XQUAD) -> dict[str, list[str]]:
    """Article title → its German paragraphs, in file order."""
    articles: dict[str, list[str]] = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            articles.setdefault(row["title"], []).append(_normalise(row["text"]))
    return articles


def bundled_texts(folder: Path = BUNDLED) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))]


def make_pool(texts: Iterable[str], gold: Iterable[str],
              vocabulary: Iterable[str] = ()) -> Pool:
    """Sentences of ``texts`` of 6-45 words ending like sentences, without any gold quote;
    the nouns of those sentences and of the ``vocabulary`` texts."""
    sentences = _sentences(texts, [_normalise(q) for q in gold])
    nouns = sorted({m.group() for s in [*sentences, *_sentences(vocabulary, [])]
                    for m in _NOUN.finditer(s)})
    return Pool(tuple(sentences), tuple(nouns))


def _sentences(texts: Iterable[str], quotes: list[str]) -> list[str]:
    return german_prose.sentences((block for text in texts
                                   for block in re.split(r"\n\s*\n", text)), quotes)


def vary(sentence: str, pool: Pool, rng: random.Random) -> str:
    """The sentence with about one noun in SWAP_EVERY words swapped and years changed."""
    matches = list(_NOUN.finditer(sentence))
    swaps = max(1, len(sentence.split()) // SWAP_EVERY)
    chosen = sorted(rng.sample(matches, min(swaps, len(matches))), key=lambda m: m.start())
    out, at = [], 0
    for m in chosen:
        out.append(sentence[at:m.start()])
        out.append(rng.choice(pool.nouns))
        at = m.end()
    out.append(sentence[at:])
    return _YEAR.sub(lambda m: str(rng.randint(1949, 2035)), "".join(out))


def paragraph(pool: Pool, rng: random.Random) -> str:
    """Consecutive pool sentences from a random place (a passage reads like one text),
    varied, until the paragraph is 105-190 words."""
    target = rng.randint(*PARAGRAPH_WORDS)
    at = rng.randrange(len(pool.sentences))
    out: list[str] = []
    words = 0
    while words < PARAGRAPH_WORDS[0] or (words < target and out):
        s = vary(pool.sentences[at % len(pool.sentences)], pool, rng)
        at = at + 1 if rng.random() < 0.7 else rng.randrange(len(pool.sentences))
        n = len(s.split())
        if words + n > PARAGRAPH_WORDS[1]:
            if words >= PARAGRAPH_WORDS[0]:
                break
            continue  # too long to fit: take another
        out.append(s)
        words += n
    return " ".join(out)


def metadata(pool: Pool, rng: random.Random) -> dict[str, object]:
    a, b, c = rng.sample(pool.nouns, 3)
    meta: dict[str, object] = {
        "title": rng.choice(TITLES).format(a=a, b=b, c=c),
        "authors": [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                    for _ in range(rng.choice((1, 1, 2, 3)))],
        "publisher": rng.choice(PUBLISHERS),
        "date": f"{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}",
        "language": "de",
        "kind": rng.choice(KINDS),
    }
    series = rng.choice(SERIES)
    if series:
        meta["series"] = series
    return meta


def generated(pool: Pool, seed: int) -> Iterator[Document]:
    """Generated documents, endless, the same sequence for the same seed and pool."""
    rng = random.Random(seed)
    n = 0
    while True:
        paragraphs = tuple(paragraph(pool, rng) for _ in range(rng.randint(*DOCUMENT_PARAGRAPHS)))
        yield Document(f"{GENERATED_DIR}/{n // 1000:03d}/dok_{n:06d}", paragraphs,
                       metadata(pool, rng))
        n += 1


def passage_count(doc: Document) -> int:
    """How many passages natoqa's splitter makes of the document (one section, default
    settings): XQuAD's short paragraphs are joined, its long ones cut."""
    text = "\n\n".join(doc.paragraphs)
    return len(splitter.pack(splitter._sentences(text, 0, len(text)), 60, 200))


def xquad_documents(articles: dict[str, list[str]]) -> list[Document]:
    docs = []
    for i, (title, paragraphs) in enumerate(articles.items()):
        docs.append(Document(f"{XQUAD_DIR}/artikel_{i:03d}", tuple(paragraphs), {
            "title": title, "authors": ["Wikipedia-Autoren"],
            "publisher": "XQuAD (Wikipedia, CC BY-SA 4.0)", "language": "de",
            "kind": "Lexikonartikel"}))
    return docs


def prose_documents(texts: Iterable[german_prose.Text], seed: int,
                    excluded: Iterable[str] = ()) -> list[Document]:
    """Real German texts as documents, a paragraph a run of their own sentences (one
    passage each), in an order shuffled by ``seed`` (so a small corpus has of every source,
    and a larger one starts with the smaller one's documents). A document is named by a
    hash of its file's name: it keeps its name when other texts are installed."""
    quotes = list(excluded)
    docs = []
    for text in texts:
        found = german_prose.paragraphs(german_prose.sentences(text.blocks, quotes),
                                        PARAGRAPH_WORDS)
        if found:
            key = hashlib.sha1(text.name.encode()).hexdigest()[:12]
            docs.append(Document(f"{PROSE_DIR}/{text.source}/text_{key}", tuple(found), {
                "title": text.title, "authors": ["Debian-Übersetzerinnen und -Übersetzer"],
                "publisher": german_prose.PUBLISHERS[text.source], "language": "de",
                "kind": "Sachtext"}))
    random.Random(seed).shuffle(docs)
    return docs


def plan(passages: int, seed: int = 17, *, xquad: Path = XQUAD,
         bundled: Path = BUNDLED, distractors: str = "generated",
         prose: Iterable[german_prose.Text] | None = None) -> tuple[list[Document], int]:
    """The documents to write besides the bundled corpus, and the passages expected in
    all (the bundled corpus's counted as BUNDLED_PASSAGES, XQuAD's by the splitter, every
    generated or prose paragraph as one). ``distractors``: "generated" (item 3 of the
    module's list) or "prose": real German texts first (:mod:`german_prose`, or the
    ``prose`` texts given), generated ones only once they are used up."""
    if distractors not in DISTRACTORS:
        raise SystemExit(f"distractors {distractors!r}: expected one of {', '.join(DISTRACTORS)}")
    if not xquad.is_file():  # a corpus without it would be another corpus under the same name
        raise SystemExit(f"no XQuAD benchmark at {xquad} (the corpus begins with its "
                         "paragraphs: link ../shared beside the checkout)")
    articles = xquad_articles(xquad)
    _, sources = split_articles(articles)
    # no distractor, generated or prose, holds a gold quote or an XQuAD answer
    excluded = [*gold_quotes(), *xquad_answer_sentences(xquad, xquad.with_name("queries.jsonl"))]
    pool = make_pool(("\n\n".join(p) for p in sources.values()), excluded,
                     vocabulary=[*bundled_texts(bundled),
                                 *("\n\n".join(p) for p in articles.values())])
    docs = xquad_documents(articles)
    expected = BUNDLED_PASSAGES + sum(passage_count(d) for d in docs)
    if distractors == "prose" and expected < passages:
        texts = german_prose.texts() if prose is None else prose
        made = prose_documents(texts, seed, excluded)
        if not made:
            raise SystemExit("--distractors prose: no German prose installed (apt-get "
                             f"install -y {' '.join(german_prose.PACKAGES)})")
        for doc in made:
            if expected >= passages:
                break
            docs.append(doc)
            expected += len(doc.paragraphs)
    source = generated(pool, seed)
    while expected < passages:
        doc = next(source)
        docs.append(doc)
        expected += len(doc.paragraphs)
    return docs, expected


#: what the bundled corpus splits into with the default settings (docs/BENCHMARKS.md):
#: 96 passages of prose and footnotes, 5 of back matter since it is split (issue 18)
BUNDLED_PASSAGES = 101


def toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def write_corpus(out: Path, passages: int, seed: int = 17, *, xquad: Path = XQUAD,
                 bundled: Path = BUNDLED, distractors: str = "generated") -> dict[str, int]:
    """Write the corpus into ``out`` (replaced); returns counts (documents, expected
    passages, words, and the passages of each kind of distractor)."""
    docs, expected = plan(passages, seed, xquad=xquad, bundled=bundled,
                          distractors=distractors)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for path in sorted(bundled.iterdir()):
        if path.is_file():
            shutil.copy2(path, out / path.name)
    words = 0
    for doc in docs:
        path = out / f"{doc.name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join(doc.paragraphs) + "\n"
        words += len(text.split())
        path.write_text(text, encoding="utf-8")
        sidecar = "".join(f"{k} = {toml_value(v)}\n" for k, v in doc.meta.items())
        path.with_suffix(".meta.toml").write_text(
            f"# Generated by bench/scale_corpus.py (seed {seed}).\n{sidecar}", encoding="utf-8")
    kinds = {kind: sum(len(d.paragraphs) for d in docs if d.name.startswith(f"{kind}/"))
             for kind in (GENERATED_DIR, PROSE_DIR)}
    return {"documents": len(docs) + len(list(bundled.glob("*.txt"))),
            "expected_passages": expected, "words_written": words,
            "generated_passages": kinds[GENERATED_DIR], "prose_passages": kinds[PROSE_DIR]}
