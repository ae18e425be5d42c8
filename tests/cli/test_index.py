"""``natoqa index list`` and ``natoqa index rollback`` (real store, small vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from natoqa.cli import main
from natoqa.index.builder import LOCK_FILE
from natoqa.index.store import MANIFEST, IndexStore
from tests.index.test_store import write_version


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, list[str]]:
    store = IndexStore(tmp_path / "index")
    versions = [write_version(store, n) for n in (2, 3, 4)]
    return store.root, versions


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_versions_oldest_first_with_the_current_marked(
    index: tuple[Path, list[str]],
) -> None:
    root, versions = index
    code, out, _ = run("index", "list", "--index", str(root))
    assert code == 0
    lines = out.splitlines()
    assert [line[2:].split()[0] for line in lines] == versions
    assert lines[-1].startswith("* ") and not lines[0].startswith("*")
    code, out, _ = run("index", "list", "--index", str(root), "--json")
    rows = json.loads(out)
    assert [r["passages"] for r in rows] == [2, 3, 4] and rows[-1]["current"]


def test_list_verify_flags_a_broken_version(index: tuple[Path, list[str]]) -> None:
    root, versions = index
    # documents.json is the version's own (segments may be shared with later versions)
    (root / "versions" / versions[0] / "documents.json").write_bytes(b"broken")
    code, out, _ = run("index", "list", "--index", str(root), "--verify", "--json")
    rows = {r["version"]: r for r in json.loads(out)}
    assert code == 0
    assert not rows[versions[0]]["verified"] and "checksum" in rows[versions[0]]["error"]
    assert rows[versions[2]]["verified"]


def test_rollback_defaults_to_the_version_before_the_current(
    index: tuple[Path, list[str]],
) -> None:
    root, versions = index
    code, out, _ = run("index", "rollback", "--index", str(root))
    assert code == 0 and f"{versions[1]} is current (was {versions[2]})" in out
    assert IndexStore(root).current() == versions[1]
    code, out, _ = run("index", "rollback", versions[2], "--index", str(root))
    assert code == 0 and IndexStore(root).current() == versions[2]


@pytest.mark.parametrize(
    ("target", "message"),
    [("20000101T000000000000Z-abcdef", "not found"), ("../etc", "not an index version name")],
)
def test_rollback_to_an_unknown_version_fails_clearly(
    index: tuple[Path, list[str]], target: str, message: str
) -> None:
    root, versions = index
    code, _, err = run("index", "rollback", target, "--index", str(root))
    assert code == 1 and message in err and "Traceback" not in err
    assert IndexStore(root).current() == versions[2]


def test_rollback_refuses_a_corrupt_version(index: tuple[Path, list[str]]) -> None:
    root, versions = index
    (root / "versions" / versions[1] / MANIFEST).write_text("{")
    code, _, err = run("index", "rollback", "--index", str(root))
    assert code == 1 and "manifest" in err
    assert IndexStore(root).current() == versions[2]


def test_rollback_while_a_build_runs_fails_at_once(index: tuple[Path, list[str]]) -> None:
    from filelock import FileLock

    root, versions = index
    with FileLock(str(root / LOCK_FILE)):
        code, _, err = run("index", "rollback", "--index", str(root))
    assert code == 1 and "another build is running" in err
    assert IndexStore(root).current() == versions[2]


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("index", "list", "--index", str(tmp_path / "none"))
    assert code == 1 and "run 'natoqa build' first" in err
    code, _, err = run("index", "rollback", "--index", str(tmp_path / "none"))
    assert code == 1 and "no index" in err


def test_build_on_a_missing_corpus_fails_before_loading_the_model(tmp_path: Path) -> None:
    code, _, err = run("build", "--corpus", str(tmp_path / "nope"), "--index",
                       str(tmp_path / "index"))
    assert code == 1 and "does not exist" in err and not (tmp_path / "index").exists()


def test_serve_refuses_a_corrupt_index_in_one_line(tmp_path: Path) -> None:
    from natoqa.config import load_settings
    from natoqa.embed.base import resolve_model

    store = IndexStore(tmp_path / "index")
    version = write_version(store, 3, model=resolve_model(load_settings())[1])
    segment = store.manifest(version).segments[0]["name"]
    (store.root / "versions" / version / "segments" / segment / "passages.jsonl").write_text(
        "kaputt\n")
    root = store.root
    code, _, err = run("serve", "--index", str(root))
    assert code == 1 and "fails its checksum" in err and "natoqa index rollback" in err
    assert "Traceback" not in err


def test_serve_refuses_an_index_of_another_model_in_one_line(
    index: tuple[Path, list[str]],
) -> None:
    root, versions = index  # write_version's manifests name a model this process does not run
    code, _, err = run("serve", "--index", str(root))
    assert code == 1 and "was built with model" in err and "natoqa build" in err
    assert "Traceback" not in err and versions[2] in err


DEVSET = str(Path(__file__).parents[2] / "eval" / "devset.jsonl")


# (``serve`` starts, unready, and waits for its database: tests/service/test_postgres_replicas.py)
@pytest.mark.parametrize("command", [["index", "list"], ["index", "rollback"], ["eval", DEVSET]])
def test_an_unreachable_postgresql_store_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # port 1 on the loopback: refused at once, as a database that is down
    monkeypatch.setenv("NATOQA_STORE", "postgresql://natoqa:s3cret@127.0.0.1:1/natoqa")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    assert "cannot be reached" in result.output and "127.0.0.1:1/natoqa" in result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output


def test_merge_writes_one_segment_and_says_so(tmp_path: Path) -> None:
    from tests.index.test_segments import segmented_index

    before = segmented_index(tmp_path, documents=6, segment_passages=2)
    root = tmp_path / "index"
    assert before.segments == 3

    code, out, _ = run("index", "merge", "--index", str(root), "--max-segments", "0")
    assert code == 2 and IndexStore(root).current() == before.version
    code, out, _ = run("index", "merge", "--index", str(root))
    store = IndexStore(root)
    assert code == 0 and f"(was {before.version}): 3 segments merged into one of 6" in out
    assert len(store.load().segments) == 1
    code, out, _ = run("index", "merge", "--index", str(root), "--json")
    assert code == 0 and json.loads(out)["switched"] is False
    code, out, _ = run("index", "list", "--index", str(root))
    assert "  1 segments" in out.splitlines()[-1]


def test_merge_fails_clearly_without_an_index_or_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run("index", "merge", "--index", str(tmp_path / "none"))
    assert code != 0 and "no index" in err and "Traceback" not in err
    monkeypatch.setenv("NATOQA_STORE", "postgresql://natoqa@127.0.0.1:9/natoqa")
    code, _, err = run("index", "merge")
    assert code != 0 and "PostgreSQL" in err and "Traceback" not in err
