"""The abstention model: the bundled data file, the file format and its checks."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from natoqa.config import load_settings
from natoqa.errors import ConfigError
from natoqa.retrieve import abstain
from natoqa.retrieve.abstain import FEATURES, Calibration, question_set_hash

ROOT = Path(__file__).resolve().parents[2]


def test_the_bundled_calibration_uses_every_feature_and_says_what_it_was_fitted_on(
    tmp_path: Path,
) -> None:
    cal = abstain.bundled()
    assert cal.features == FEATURES
    fitted = cal.fitted
    assert fitted.questions == ("eval/devset.jsonl", "eval/followups.jsonl",
                                "XQ/questions-tune.jsonl")
    # XQ is made as its note says: the recorded hash is of exactly those questions
    assemble = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "assemble_xquad.py"), "--out", str(tmp_path),
         "--with-natoqa", "--holdout-every", "6"], capture_output=True, text=True, check=False)
    assert assemble.returncode == 0, assemble.stderr
    assert "assemble_xquad.py --out XQ --with-natoqa --holdout-every 6" in fitted.note
    files = [ROOT / q for q in fitted.questions[:2]] + [tmp_path / "questions-tune.jsonl"]
    assert fitted.questions_sha256 == question_set_hash(files)
    assert "--calibrate" in fitted.command and fitted.date
    assert abstain.load(None) is cal


def test_files_round_trip_and_bad_ones_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    abstain.bundled().save(path)
    assert Calibration.from_file(path) == abstain.bundled()
    assert Calibration.from_file(path).fitted == abstain.bundled().fitted
    for broken in ('{"weights": [1]}', json.dumps({**abstain.bundled().to_dict(), "format": 2})):
        path.write_text(broken)
        with pytest.raises(ConfigError, match="not valid"):
            Calibration.from_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        Calibration.from_file(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="one value per feature"):
        Calibration(weights=(1.0,), bias=0.0, mean=(0.0, 0.0), scale=(1.0,))


def test_feature_names_must_be_the_codes(tmp_path: Path) -> None:
    data = abstain.bundled().to_dict()
    data["features"] = [*FEATURES[:-1], "top_overlap"]  # a feature this code does not compute
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"top_overlap.*not computed by this natoqa"):
        Calibration.from_file(path)
    # a subset is fine: an index without latent terms is fitted without terms_top
    cal = abstain.bundled()
    keep = [i for i, f in enumerate(cal.features) if f != "terms_top"]
    subset = replace(cal, features=tuple(cal.features[i] for i in keep),
                     weights=tuple(cal.weights[i] for i in keep),
                     mean=tuple(cal.mean[i] for i in keep),
                     scale=tuple(cal.scale[i] for i in keep))
    assert "terms_top" not in subset.features


def test_the_setting_names_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cal.json"
    path.write_text("{}")
    monkeypatch.setenv("NATOQA_RETRIEVAL_LEXICAL_WEIGHT", "0.5")
    monkeypatch.setenv("NATOQA_RETRIEVAL_CALIBRATION", str(path))
    with pytest.raises(ConfigError):  # the file is broken: a clear error at start
        abstain.load(load_settings().retrieval.calibration)
    abstain.bundled().save(path)
    settings = load_settings().retrieval
    assert settings.lexical_weight == 0.5
    assert abstain.load(settings.calibration) == abstain.bundled()
    monkeypatch.setenv("NATOQA_RETRIEVAL_HISTORY_WEIGHT", "2")
    with pytest.raises(ConfigError, match="NATOQA_RETRIEVAL_HISTORY_WEIGHT"):
        load_settings()


def test_a_feature_the_evidence_lacks_counts_as_its_mean() -> None:
    cal = abstain.bundled()
    evidence = dict(zip(cal.features, cal.mean, strict=True))
    at_mean = cal.probability(evidence)
    del evidence["terms_top"]
    assert cal.probability(evidence) == pytest.approx(at_mean)
    evidence["terms_top"] = 0.0  # what a missing value used to count as: far below its mean
    assert cal.probability(evidence) < at_mean - 0.2
