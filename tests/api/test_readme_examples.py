"""The README's "Asking from a script" examples (curl, Python client, OpenAI SDK), run as written
against the real server."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def section_blocks(language: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Asking from a script", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_readme_has_the_three_ways() -> None:
    assert len(section_blocks("sh")) == 1 and len(section_blocks("python")) == 2


def test_curl_example(server_url: str) -> None:
    if not (shutil.which("curl") and shutil.which("jq")):
        pytest.skip("the example needs curl and jq")
    script = section_blocks("sh")[0].replace("http://127.0.0.1:8000", server_url)
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert "Wiesbaden" in out and re.search(r"^\[\d+\] ", out, flags=re.M)


@pytest.mark.parametrize(("index", "expected"), [(0, "40 000"), (1, "[1]")])
def test_python_examples(server_url: str, index: int, expected: str) -> None:
    code = section_blocks("python")[index].replace("http://127.0.0.1:8000", server_url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"README.md python block {index}", "exec"), {})
    assert expected in printed.getvalue()
