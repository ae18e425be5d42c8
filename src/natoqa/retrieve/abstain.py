"""Abstention: the probability that the sources answer a question, from retrieval's evidence.

A logistic model over the evidence features :class:`~natoqa.retrieve.retriever.Retriever`
computes (:data:`FEATURES`; docs/RETRIEVAL.md "Abstention" says what each measures).
Its fitted numbers are data, not code: ``natoqa/data/abstention.json`` (the default) or
a file named by ``NATOQA_RETRIEVAL_CALIBRATION``, both written by ``natoqa eval …
--calibrate --save FILE`` together with what they were fitted on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from natoqa.errors import ConfigError

#: the evidence features the retriever computes; a calibration uses these (or some).
#: Each compares the question with what retrieval found, never with the whole index, so
#: it means the same at 100 and at 100,000 passages (docs/RETRIEVAL.md, "Abstention at
#: scale"): fused z-scores, their margin and the index's vocabulary did not.
FEATURES = (
    "unit_top", "dense_top", "english", "terms_top", "top_coverage",
    "missing_hits", "foreign_hits", "dense_margin", "dense_gap",
)
#: the version of the file format; another one is refused
FORMAT = 1
#: the calibration natoqa ships (fitted on eval/devset.jsonl + eval/followups.jsonl)
BUNDLED = Path(__file__).parents[1] / "data" / "abstention.json"


@dataclass(frozen=True)
class Provenance:
    """What a calibration was fitted on, and how: enough to refit it and compare."""

    date: str = ""
    command: str = ""
    #: the question files, and the SHA-256 of their bytes in that order (question_set_hash)
    questions: tuple[str, ...] = ()
    questions_sha256: str = ""
    #: the index version the questions ran against
    index: str = ""
    #: the operating point the fit chose (the threshold setting is separate)
    threshold: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Calibration:
    """A logistic model: P(answerable) = sigmoid(bias + Σ weight·(x - mean)/scale)."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    features: tuple[str, ...] = FEATURES
    fitted: Provenance = field(default_factory=Provenance, compare=False)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError("weights, mean and scale need one value per feature")
        if unknown := [f for f in self.features if f not in FEATURES]:
            raise ValueError(
                f"feature(s) {', '.join(unknown)} are not computed by this natoqa, which "
                f"has {', '.join(FEATURES)}: refit with 'natoqa eval … --calibrate --save'"
            )

    def probability(self, evidence: Mapping[str, float]) -> float:
        """P(answerable); a feature the evidence lacks counts as its mean (no say either way):
        an index built before a feature existed still gets sensible confidences."""
        z = self.bias
        for name, w, m, s in zip(self.features, self.weights, self.mean, self.scale, strict=True):
            z += w * (evidence.get(name, m) - m) / (s or 1.0)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_dict(self) -> dict[str, Any]:
        """The file format (``format``, the model, then ``fitted``)."""
        fitted = {k: list(v) if isinstance(v, tuple) else v
                  for k, v in self.fitted.__dict__.items()}
        return {"format": FORMAT, "features": list(self.features),
                "weights": list(self.weights), "bias": self.bias, "mean": list(self.mean),
                "scale": list(self.scale), "fitted": fitted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        fitted = dict(data.get("fitted") or {})
        if "questions" in fitted:
            fitted["questions"] = tuple(str(q) for q in fitted["questions"])
        return cls(
            weights=tuple(float(x) for x in data["weights"]),
            bias=float(data["bias"]),
            mean=tuple(float(x) for x in data["mean"]),
            scale=tuple(float(x) for x in data["scale"]),
            features=tuple(str(x) for x in data["features"]),
            fitted=Provenance(**fitted),
        )

    @classmethod
    def from_file(cls, path: Path) -> Calibration:
        """Read a calibration written by ``natoqa eval --calibrate --save PATH``."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read the calibration {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"calibration {path} is not valid: {exc}") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def question_set_hash(paths: Iterable[Path]) -> str:
    """SHA-256 of the question files' bytes, in order: which questions a fit saw."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


@cache
def bundled() -> Calibration:
    """The calibration natoqa ships (read once)."""
    return Calibration.from_file(BUNDLED)


def load(path: Path | None) -> Calibration:
    """The calibration in ``path`` (``NATOQA_RETRIEVAL_CALIBRATION``), else the bundled one."""
    return Calibration.from_file(path) if path else bundled()
