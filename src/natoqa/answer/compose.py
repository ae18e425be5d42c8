"""Extractive answers: a few sentences taken verbatim from the retrieved passages.

Every answer sentence is a span of a cited passage, followed by that passage's
marker ``[n]``; ``n`` is the passage's rank, so markers resolve to the citations
list (best first). Passages that contributed no sentence stay listed as further
reading (``used=False``). Nothing is paraphrased, so nothing can be invented.

How sentences are chosen: the passages' sentences (split by
:mod:`natoqa.text.sentences`, the same splitter ingestion uses) are scored for
relevance to the question, weighted down by the rank of their passage, and
taken greedily while they stay close to the best. Relevance mixes two signals:
the words the sentence shares with the question (a :data:`SentenceScorer`,
lexical by default) and the cosine of the question with the sentence's vector,
which retrieval computed already (``RetrievalResult.unit_scores``, stored at
build time: no model call here). The words alone failed English questions over
German text, which share none; docs/API.md, "Answers", has the measurements.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from natoqa.answer.phrases import phrase
from natoqa.index.stores import OpenVersion
from natoqa.models import Answer, Citation, DocumentMeta, Hit, Passage, PassageKind
from natoqa.retrieve.retriever import RetrievalResult
from natoqa.text import analyzer
from natoqa.text.characters import CLOSERS, SENTENCE_END, SUPERSCRIPT_DIGITS
from natoqa.text.sentences import entry_spans, sentence_spans

Language = str

#: question (with context) and sentences → one relevance per sentence, each in [0, 1]
SentenceScorer = Callable[[str, Sequence[str], Sequence[str]], Sequence[float]]

MAX_SENTENCES = 3
#: answers stop growing past this many characters (one sentence is always given)
MAX_ANSWER_CHARS = 900
#: a further sentence must score at least this share of the best one
RELATIVE_FLOOR = 0.6
#: sentences taken from one passage, as one contiguous run
MAX_RUN = 2
_MIN_WORDS = 4
_MAX_WORDS = 90
#: footnotes and back matter mostly cite literature: their sentences must be clearly better
NOTE_WEIGHT = 0.7
#: weight of the earlier user turns' words in lexical relevance
HISTORY_WEIGHT = 0.3
#: share of a sentence's relevance from its cosine with the question (rest: shared words)
DENSE_WEIGHT = 0.5

#: a question word matches by its first letters, found inside a sentence word: cruder than
#: the analyzer's stems, but it also meets derivations ("Präsidentschaft", "Präsident")
#: and English cognates ("indirectly", "indirekt"); with stems, fewer answers quoted the
#: gold sentence (docs/API.md, "Answers")
_PREFIX = 6
_ENDS_LIKE_SENTENCE = re.compile(f"[{SENTENCE_END}:;{CLOSERS}{SUPERSCRIPT_DIGITS}\\d]$")
_URL = re.compile(r"https?://|www\.\w", re.IGNORECASE)


def _terms(text: str) -> list[str]:
    """A question's words (the shared analyzer's, without stop words), cut to _PREFIX letters."""
    return [word[:_PREFIX] for word in analyzer.words(text)]


@lru_cache(maxsize=65_536)
def _words(sentence: str) -> tuple[frozenset[str], str]:
    """A sentence's words (the analyzer's tokens), as a set and joined by NULs (for
    substring tests in C).

    Cached: the same passages come back question after question, and their
    sentence strings (cached too, :func:`_split`) hash once.
    """
    words = frozenset(analyzer.tokens(sentence))
    return words, "\0" + "\0".join(words)


def _contains(words: frozenset[str], joined: str, term: str) -> bool:
    """Does a sentence contain ``term``: inside a word (≥ 5 letters), as a prefix (4), or whole?"""
    if len(term) >= 5:
        return term in joined
    if len(term) == 4:
        return "\0" + term in joined
    return term in words


def lexical_scorer(
    question: str, history: Sequence[str], sentences: Sequence[str]
) -> Sequence[float]:
    """Share of the question's (and, weighted less, the history's) words in each sentence.

    Words and stop words are the shared analyzer's (:mod:`natoqa.text.analyzer`, as
    in lexical search). They are weighted by their rarity among the candidate
    sentences, so a word that every candidate contains ("NATO") decides nothing.
    Compounds count: a question word of five letters or more matches inside a
    longer sentence word ("Ausgaben" in "Verteidigungsausgaben").
    """
    weights: dict[str, float] = {}
    for t in _terms(question):
        weights[t] = 1.0
    for turn in history:
        for t in _terms(turn):
            weights.setdefault(t, HISTORY_WEIGHT)
    if not weights or not sentences:
        return [0.0] * len(sentences)
    indexed = [_words(s) for s in sentences]
    hits = [{t for t in weights if _contains(words, joined, t)} for words, joined in indexed]
    df = Counter(t for h in hits for t in h)
    n = len(sentences)
    idf = {t: math.log(1 + n / (1 + df[t])) for t in weights}
    total = sum(weights[t] * idf[t] for t in weights)
    if total <= 0:
        return [0.0] * n
    return [sum(weights[t] * idf[t] for t in h) / total for h in hits]


@dataclass(frozen=True)
class _Sentence:
    rank: int  # 0-based rank of the passage (its marker is rank + 1)
    index: int  # position among the passage's sentences
    start: int  # offsets into the passage text
    end: int
    text: str
    eligible: bool  # long enough and shaped like a sentence
    weight: float  # prior of its passage: rank, and body text over footnotes


def _sentences(rank: int, passage: Passage) -> list[_Sentence]:
    weight = _rank_weight(rank) * (1.0 if passage.kind == "body" else NOTE_WEIGHT)
    return [
        _Sentence(rank, i, a, b, text, eligible, weight)
        for i, (a, b, text, eligible) in enumerate(_split(passage.text, passage.kind))
    ]


@lru_cache(maxsize=16_384)
def _split(text: str, kind: PassageKind) -> tuple[tuple[int, int, str, bool], ...]:
    """``(start, end, sentence, eligible)`` for each sentence of a passage.

    Cached: splitting is the costly part of composing, and a passage's
    sentences never change (an edited passage has another text).
    """
    # a footnote with a web address cites literature: quotable as a source, not an answer
    reference = kind == "footnote" and bool(_URL.search(text))
    # the back matter is read by its entries, web address or not: a reader who asks which
    # publication the study cites is answered by the bibliography's entry, quoted whole
    backmatter = kind == "backmatter"
    out = []
    for a, b in entry_spans(text) if backmatter else sentence_spans(text):
        s = text[a:b]
        words = len(s.split())
        eligible = (
            not reference
            and _MIN_WORDS <= words <= _MAX_WORDS
            and any(ch.isalpha() for ch in s)
            # a short line without closing punctuation is a heading, not a statement
            and (words >= 12 or bool(_ENDS_LIKE_SENTENCE.search(s)))
            # a sentence with a web address is a reference (footnotes), not a finding
            and (backmatter or not _URL.search(s))
        )
        out.append((a, b, s, eligible))
    return tuple(out)


def _cosines(
    sentences: Sequence[_Sentence],
    hits: Mapping[int, Hit],  # by rank
    unit_scores: Mapping[str, Sequence[tuple[int, int, float]]],
) -> list[float] | None:
    """Each sentence's cosine with the question: its best unit (alone or with a neighbour).

    A unit holds a sentence when the sentence's span lies within the unit's
    (both are offsets into the passage text). A passage of one sentence has no
    units; its own cosine stands in. None when retrieval gave no unit scores at
    all (an index built without sentence vectors).
    """
    if not unit_scores:
        return None
    out = []
    for c in sentences:
        hit = hits[c.rank]
        units = unit_scores.get(hit.passage.passage_id, ())
        out.append(max((cos for a, b, cos in units if a <= c.start and c.end <= b),
                       default=hit.dense))
    return out


def _mix(lexical: Sequence[float], cosines: Sequence[float] | None) -> Sequence[float]:
    """Blend shared words with cosines, the cosines min-max scaled over the candidates."""
    if not cosines:
        return lexical
    low, high = min(cosines), max(cosines)
    spread = high - low
    return [
        (1 - DENSE_WEIGHT) * lex + DENSE_WEIGHT * ((cos - low) / spread if spread > 1e-9 else 0.0)
        for lex, cos in zip(lexical, cosines, strict=True)
    ]


def _rank_weight(rank: int) -> float:
    """Retrieval's order still counts: a sentence of a lower passage must be clearly better."""
    return max(0.5, 1.0 - 0.1 * rank)


def _select(
    candidates: list[_Sentence], scores: Sequence[float], max_sentences: int
) -> list[_Sentence]:
    """Greedy pick: best first, contiguous runs per passage, no repeats, bounded length."""
    keyed = []
    for c, s in zip(candidates, scores, strict=True):
        # a hair of position prior: ties (e.g. no shared words at all) go to the lead
        keyed.append(((s + 0.02 / (1 + c.index)) * c.weight, c))
    keyed.sort(key=lambda kc: (-kc[0], kc[1].rank, kc[1].index))
    chosen: list[_Sentence] = []
    seen_texts: set[str] = set()
    runs: dict[int, list[int]] = {}
    best = keyed[0][0] if keyed else 0.0
    chars = 0
    for score, c in keyed:
        if len(chosen) >= max_sentences or (chosen and chars >= MAX_ANSWER_CHARS):
            break
        if chosen and score < RELATIVE_FLOOR * best:
            break
        norm = " ".join(c.text.split()).lower()
        if norm in seen_texts:
            continue
        run = runs.get(c.rank)
        if run is not None and (len(run) >= MAX_RUN or c.index not in (min(run) - 1, max(run) + 1)):
            continue
        if chosen and chars + len(c.text) > MAX_ANSWER_CHARS:
            continue
        chosen.append(c)
        seen_texts.add(norm)
        runs.setdefault(c.rank, []).append(c.index)
        chars += len(c.text) + 5
    return chosen


def compose(
    question: str,
    result: RetrievalResult,
    index: OpenVersion,
    language: Language,
    history: Sequence[str] = (),
    max_sentences: int = MAX_SENTENCES,
    *,
    scorer: SentenceScorer | None = None,
) -> Answer:
    """Build the answer text and its citations from a retrieval result.

    ``language`` chooses the fixed phrases; the quoted sentences stay in the
    language of their source.
    """
    scorer = scorer or lexical_scorer
    hits = list(result.hits)
    per_hit = [_sentences(rank, h.passage) for rank, h in enumerate(hits)]
    by_rank = dict(enumerate(hits))
    answerable = not result.no_answer and bool(hits)

    chosen: list[_Sentence] = []
    if answerable:
        candidates = [s for sents in per_hit for s in sents if s.eligible]
        if not candidates:  # only fragments: the top passage's first piece is still a quote
            candidates = per_hit[0][:1]
        if candidates:
            scores = scorer(question, history, [c.text for c in candidates])
            scores = _mix(scores, _cosines(candidates, by_rank, result.unit_scores))
            chosen = _select(candidates, scores, max_sentences)

    chosen_by_rank: dict[int, list[_Sentence]] = {}
    for c in chosen:
        chosen_by_rank.setdefault(c.rank, []).append(c)

    # further reading shows each unquoted passage's most relevant sentence, all scored at once
    unquoted = [s for rank, sents in enumerate(per_hit) if rank not in chosen_by_rank
                for s in sents]
    relevance = dict(zip(
        ((s.rank, s.index) for s in unquoted),
        _mix(lexical_scorer(question, history, [s.text for s in unquoted]),
             _cosines(unquoted, by_rank, result.unit_scores)),
        strict=True,
    )) if unquoted else {}
    citations = [
        _citation(rank, hit, index, per_hit[rank], chosen_by_rank.get(rank), relevance)
        for rank, hit in enumerate(hits)
    ]
    if chosen:
        ordered = sorted(chosen, key=lambda c: (c.rank, c.index))
        text = " ".join(f"{c.text} [{c.rank + 1}]" for c in ordered)
    else:
        text = phrase("nothing_found", language)
    return Answer(
        text=text,
        no_answer=not chosen,
        citations=tuple(citations),
        language=language,
        confidence=result.confidence,
        timings=dict(result.timings),
    )


def _citation(
    rank: int,
    hit: Hit,
    index: OpenVersion,
    sentences: list[_Sentence],
    chosen: list[_Sentence] | None,
    relevance: Mapping[tuple[int, int], float],  # (rank, index) of unquoted sentences
) -> Citation:
    p = hit.passage
    record = index.documents.get(p.doc_id)
    meta = record.meta if record else DocumentMeta(title=p.doc_id)
    if chosen:
        a, b = min(c.start for c in chosen), max(c.end for c in chosen)
    elif sentences:
        # further reading: show its most relevant sentence
        scores = [relevance.get((s.rank, s.index), 0.0) for s in sentences]
        best = max(range(len(sentences)), key=lambda i: (scores[i], sentences[i].eligible, -i))
        a, b = sentences[best].start, sentences[best].end
    else:
        a, b = 0, len(p.text)
    return Citation(
        n=rank + 1,
        hit=hit,
        meta=meta,
        quote=p.text[a:b],
        quote_start=p.start + a,
        quote_end=p.start + b,
        used=bool(chosen),
    )
