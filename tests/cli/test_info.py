"""``natoqa info``: effective settings (secrets masked), the model, the index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run_info(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # a real process: the settings come from its environment, as in production
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "natoqa", "info", *args], env=full_env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_json_report_masks_secrets_and_describes_model_and_index(built_index: Path) -> None:
    from natoqa.index.store import IndexStore

    admin, key = "admin-secret-" + "s" * 20, "api-key-secret-" + "k" * 20
    result = run_info("--json", env={
        "NATOQA_INDEX_DIR": str(built_index),
        "NATOQA_ADMIN_TOKEN": admin,
        "NATOQA_API_KEYS": key,
        "NATOQA_RATE_LIMIT": "10/second",
        "NATOQA_CACHE_SIZE": "7",
    })
    assert result.returncode == 0, result.stderr
    assert admin not in result.stdout and key not in result.stdout
    report: dict[str, Any] = json.loads(result.stdout)
    settings = report["settings"]
    assert settings["admin_token"] == "**********"
    assert settings["api_keys"] == ["**********"]
    assert settings["rate_limit"] == "10/second" and settings["cache_size"] == 7
    assert settings["index_dir"] == str(built_index)

    model = report["model"]
    assert model["dimensions"] == 384 and model["error"] is None
    assert Path(model["path"], "modules.json").is_file()
    manifest = IndexStore(built_index).manifest()
    index = report["index"]
    assert index["version"] == manifest.version
    assert index["passages"] == manifest.passage_count > 0
    assert index["documents"] == len(manifest.documents) > 0
    assert index["model_id"] == model["id"]
    assert index["error"] is None


@pytest.mark.slow
def test_text_report_shows_variables_and_a_missing_index(tmp_path: Path) -> None:
    result = run_info(env={"NATOQA_INDEX_DIR": str(tmp_path / "none"), "NATOQA_MAX_K": "7"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "NATOQA_MAX_K=7" in out
    assert "dimensions: 384" in out
    assert "error: no index" in out  # reported, not a traceback


def test_invalid_setting_is_a_clear_error_not_a_traceback() -> None:
    result = run_info(env={"NATOQA_RATE_LIMIT": "very fast", "NATOQA_MAX_CONCURRENT": "0"})
    assert result.returncode == 2
    assert "NATOQA_RATE_LIMIT" in result.stderr and "NATOQA_MAX_CONCURRENT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_index_and_corpus_options_like_the_other_commands(
    built_index: Path, tmp_path: Path
) -> None:
    result = run_info("--json", "--index", str(built_index), "--corpus", str(tmp_path),
                      env={"NATOQA_INDEX_DIR": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["settings"]["index_dir"] == str(built_index)
    assert report["settings"]["corpus_dir"] == str(tmp_path)
    assert report["index"]["dir"] == str(built_index)
    assert report["index"]["error"] is None and report["index"]["passages"] > 0
