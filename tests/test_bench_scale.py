"""The scale benchmark's corpus generator (bench/scale_corpus.py): fast, no model."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import scale_corpus  # noqa: E402

from natoqa.ingest import passages  # noqa: E402
from natoqa.ingest.cleaning import clean  # noqa: E402
from natoqa.ingest.sources import scan_corpus  # noqa: E402


def _passages(corpus: Path) -> list[str]:
    scan = scan_corpus(corpus)
    assert not scan.skipped
    return [p.text for raw in scan.documents
            for p in passages.split(clean(raw), min_words=60, max_words=200)]


def test_same_seed_same_corpus_and_a_larger_one_starts_with_the_smaller() -> None:
    small, _ = scale_corpus.plan(600, seed=3)
    again, _ = scale_corpus.plan(600, seed=3)
    larger, _ = scale_corpus.plan(1500, seed=3)
    other, _ = scale_corpus.plan(600, seed=4)
    assert small == again
    assert larger[: len(small)] == small
    assert small != other


@pytest.mark.parametrize("size", [500, 1200])
def test_sizes_about_right_and_gold_kept(tmp_path: Path, size: int) -> None:
    counts = scale_corpus.write_corpus(tmp_path / "c", size, seed=5)
    texts = _passages(tmp_path / "c")
    assert size <= counts["expected_passages"] <= size + scale_corpus.DOCUMENT_PARAGRAPHS[1]
    assert abs(len(texts) - size) <= 0.06 * size  # XQuAD's short paragraphs merge
    assert len(set(texts)) == len(texts)  # generated passages are distinct texts
    # the bundled corpus is copied unchanged, so every gold quote is found in it
    for path in (ROOT / "corpus").iterdir():
        assert (tmp_path / "c" / path.name).read_bytes() == path.read_bytes()
    joined = " ".join(" ".join(t.split()) for t in texts)
    for quote in scale_corpus.gold_quotes():
        assert " ".join(quote.split()) in joined, quote


def test_generated_text_has_no_gold_quote_and_paragraphs_fit_one_passage() -> None:
    docs, _ = scale_corpus.plan(900, seed=1)
    answers = scale_corpus.xquad_answer_sentences()
    assert len(answers) > 300  # XQuAD's answer sentences: no distractor holds one either
    quotes = [" ".join(q.split()) for q in [*scale_corpus.gold_quotes(), *answers]]
    generated = [d for d in docs if d.name.startswith(scale_corpus.GENERATED_DIR)]
    assert generated
    low, high = scale_corpus.PARAGRAPH_WORDS
    for doc in generated:
        assert (scale_corpus.DOCUMENT_PARAGRAPHS[0] <= len(doc.paragraphs)
                <= scale_corpus.DOCUMENT_PARAGRAPHS[1])
        for para in doc.paragraphs:
            assert low <= len(para.split()) <= high
            assert not any(q in para for q in quotes)


def test_xquad_questions_have_their_answer_sentences_as_gold() -> None:
    questions = scale_corpus.xquad_questions()
    every = scale_corpus.xquad_questions(measured_only=False)
    assert len(every) > 2300 and {q["lang"] for q in questions} == {"de", "en"}
    assert 0.4 * len(every) < len(questions) < 0.6 * len(every)  # the measured half
    measured, _ = scale_corpus.split_articles(scale_corpus.xquad_articles())
    paragraphs = " ".join(p for ps in measured.values() for p in ps)
    for question in questions[::50]:
        assert question["gold"] and all(g in paragraphs for g in question["gold"])


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_distractors_are_made_of_the_source_articles_only() -> None:
    """No generated paragraph borrows from the bundled corpus or a measured article (so none
    holds an answer's neighbour or subject), while most of its phrases are the sources'."""
    docs, _ = scale_corpus.plan(700, seed=6)
    measured, sources = scale_corpus.split_articles(scale_corpus.xquad_articles())
    assert measured and sources and not set(measured) & set(sources)
    source = set().union(*(_shingles(p) for ps in sources.values() for p in ps))
    others = set().union(*(_shingles(" ".join(t.split())) for t in scale_corpus.bundled_texts()),
                         *(_shingles(p) for ps in measured.values() for p in ps)) - source
    generated = set().union(*(_shingles(p) for d in docs
                              if d.name.startswith(scale_corpus.GENERATED_DIR)
                              for p in d.paragraphs))
    assert len(generated & source) > 0.15 * len(generated)
    assert len(generated & others) < 0.01 * len(generated & source)


def test_sidecars_are_valid_metadata(tmp_path: Path) -> None:
    scale_corpus.write_corpus(tmp_path / "c", 400, seed=2)
    sidecars = sorted((tmp_path / "c" / scale_corpus.GENERATED_DIR).rglob("*.meta.toml"))
    assert sidecars
    for path in sidecars:
        meta = tomllib.loads(path.read_text(encoding="utf-8"))
        assert meta["language"] == "de" and meta["title"] and meta["authors"]
        assert path.with_name(path.name.replace(".meta.toml", ".txt")).is_file()


def test_written_bytes_count_a_hard_link_to_an_older_file_as_nothing(tmp_path: Path) -> None:
    """The one-document rebuild's figure: a new version's shared segments cost no bytes."""
    import os

    import scale

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "big").write_bytes(b"x" * 1000)
    (tmp_path / "CURRENT").write_text("old")
    before = scale.snapshot(tmp_path)
    (tmp_path / "new").mkdir()
    os.link(tmp_path / "old" / "big", tmp_path / "new" / "big")  # shared
    (tmp_path / "new" / "small").write_bytes(b"y" * 10)  # written
    (tmp_path / "CURRENT.tmp").write_text("new")
    os.replace(tmp_path / "CURRENT.tmp", tmp_path / "CURRENT")  # replaced: a new inode
    assert scale.written_bytes(before, scale.snapshot(tmp_path)) == (13, 2)


def test_warming_reads_every_file_of_a_version_and_the_cache_is_reported(
    tmp_path: Path,
) -> None:
    """--warm-cache: a version's files read once, in chunks smaller than the files."""
    import scale

    (tmp_path / "segments" / "s1").mkdir(parents=True)
    (tmp_path / "segments" / "s1" / "vectors.npy").write_bytes(b"v" * 5000)
    (tmp_path / "manifest.json").write_bytes(b"{}")
    (tmp_path / "empty").write_bytes(b"")
    assert scale.warm(tmp_path, chunk=1024) == 5002
    cached = scale.page_cache_mib()
    assert cached is None or cached >= 0


def test_a_corpus_without_xquad_is_refused_not_made_smaller(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no XQuAD benchmark"):
        scale_corpus.plan(600, xquad=tmp_path / "missing" / "corpus.jsonl")


# -- real German prose as distractors (bench/german_prose.py) ---------------------------

def _sentence(i: int) -> str:
    return f"Der Satz Nummer {i} erklärt ausführlich, wie man ein Programm richtig startet."


def test_fortune_files_and_html_pages_become_texts_of_their_own_blocks(tmp_path: Path) -> None:
    import german_prose

    (tmp_path / "witze").write_text("Erster Witz.\n%\nZweiter\nWitz.\n%\n", encoding="utf-8")
    (tmp_path / "witze.dat").write_bytes(b"\x00")  # fortune's index: not a text
    (tmp_path / "seite.html").write_text(
        "<html><head><title>Ebenen &amp; Kanäle</title></head><body><h1>Kopf</h1>"
        "<p>Ein <b>erster</b>\nAbsatz.</p><div>kein Absatz</div><p>Ein zweiter.</p>"
        "</body></html>", encoding="utf-8")
    (fortune,) = german_prose.fortunes(tmp_path)
    assert [" ".join(b.split()) for b in fortune.blocks if b.strip()] == \
        ["Erster Witz.", "Zweiter Witz."]
    (page,) = german_prose.html_pages("gimp", [(tmp_path, "*.html")])
    assert page.title == "Ebenen & Kanäle"
    assert page.blocks == ("Ein erster Absatz.", "Ein zweiter.")
    assert not list(german_prose.fortunes(tmp_path / "missing"))


def test_prose_sentences_are_kept_in_order_and_packed_into_one_passage_each() -> None:
    import german_prose

    blocks = ["kurz.", " ".join(_sentence(i) for i in range(30)), "GOLD steht hier im Satz drin."]
    found = german_prose.sentences(blocks, excluded=["GOLD steht hier"])
    assert found == [_sentence(i) for i in range(30)]  # the fragment and the gold left out
    low, high = scale_corpus.PARAGRAPH_WORDS
    packed = german_prose.paragraphs(found, (low, high))
    assert packed and all(low <= len(p.split()) <= high for p in packed)
    assert " ".join(packed).startswith(_sentence(0))  # in the text's own order


def test_prose_distractors_come_before_generated_ones_and_gold_stays_out() -> None:
    import german_prose

    gold = scale_corpus.gold_quotes()[0]
    texts = [german_prose.Text("man", f"seite{n}.1.gz", f"Seite {n}", (" ".join(
        _sentence(i + 100 * n) for i in range(40)) + f" {gold} dort.",)) for n in range(3)]
    docs, expected = scale_corpus.plan(900, seed=2, distractors="prose", prose=texts)
    kinds = [d.name.split("/")[0] for d in docs]
    prose = [d for d in docs if d.name.startswith(scale_corpus.PROSE_DIR)]
    assert len(prose) == 3 and kinds.index("prose") < kinds.index(scale_corpus.GENERATED_DIR)
    assert expected >= 900  # generated text fills up what the prose does not
    assert not any(" ".join(gold.split()) in p for d in prose for p in d.paragraphs)
    again, _ = scale_corpus.plan(900, seed=2, distractors="prose", prose=texts)
    assert again == docs
    with pytest.raises(SystemExit, match="no German prose"):
        scale_corpus.plan(900, distractors="prose", prose=[])
    with pytest.raises(SystemExit, match="expected one of"):
        scale_corpus.plan(900, distractors="lorem")


def test_merging_an_index_in_the_bench_records_time_memory_and_report(tmp_path: Path) -> None:
    import scale

    from tests.index.test_segments import segmented_index

    segmented_index(tmp_path, documents=5, segment_passages=2)
    index = tmp_path / "index"
    merged = scale.ensure_merged(index)
    assert merged["report"]["segments_before"] == 3 and merged["report"]["segments"] == 1
    assert merged["wall_s"] > 0 and merged["peak_rss_mib"] > 10
    assert scale.ensure_merged(index)["report"]["switched"] is False


def test_a_commands_peak_rss_is_its_own_not_the_benchs() -> None:
    """Linux keeps the parent's high-water mark across fork and exec: measured through
    os.wait4, a small command spawned by a 300 MB process reported 300 MB."""
    import scale

    ballast = bytearray(300 << 20)
    ballast[:: 4096] = b"\x01" * len(ballast[:: 4096])  # touched: resident
    wall, peak, out = scale.run_measured([sys.executable, "-c", "print('hallo')"])
    assert out.strip() == "hallo" and wall > 0
    assert 5 < peak < 100, peak
    with pytest.raises(SystemExit, match="failed"):
        scale.run_measured([sys.executable, "-c", "raise SystemExit(3)"])
    del ballast
