"""Documents over HTTP from Python (Client, AsyncClient) and the command line (natoqa docs)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from natoqa import AsyncClient, Client, ClientError
from natoqa.cli import main
from tests.api.studies import study_pdf
from tests.conftest import ADMIN_TOKEN, CMS_TOKEN, EditableServer

NOTE = "Die Übung Nordlicht fand im Hafen von Kiel mit zwölf Schiffen statt. " * 8


def test_put_document_sends_the_file_its_type_metadata_and_token(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "doc_id": "studie", "changed": False, "build_id": None, "build_url": None,
            "document": {"doc_id": "studie", "source": "studie.pdf", "format": "pdf",
                         "meta": {}, "in_corpus": True, "status": "indexed",
                         "content_hash": "x", "version": "v", "passages": 1, "reason": None,
                         "build_id": None}})

    path = tmp_path / "studie.pdf"
    path.write_bytes(study_pdf())
    with Client("http://natoqa.test", api_key="k" * 16,
                transport=httpx.MockTransport(handler)) as client:
        change = client.put_document("studie", path, title="Titel", authors=["A", "B"],
                                     date="2025", token=CMS_TOKEN)
    assert change.changed is False
    request = seen[0]
    assert request.method == "PUT" and request.url.path == "/api/v1/admin/documents/studie"
    assert request.headers["content-type"] == "application/pdf"
    assert request.headers["authorization"] == f"Bearer {CMS_TOKEN}"
    assert request.url.params.get_list("authors") == ["A", "B"]
    assert request.content == study_pdf()


def test_put_document_refuses_what_it_cannot_type_or_unknown_metadata(tmp_path: Path) -> None:
    odd = tmp_path / "bild.png"
    odd.write_bytes(b"\x89PNG")
    with Client("http://natoqa.test") as client:
        with pytest.raises(ClientError, match="document type"):
            client.put_document("bild", odd)
        with pytest.raises(ClientError, match="unknown metadata"):
            client.put_document("x", b"text", media_type="text/plain", titel="typo")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.slow
def test_cli_put_list_rm(editable_server: EditableServer, tmp_path: Path) -> None:
    url = editable_server.url
    note = tmp_path / "nordlicht.md"
    note.write_text(NOTE, encoding="utf-8")
    meta = tmp_path / "nordlicht.meta.toml"
    meta.write_text('title = "Übung Nordlicht"\nkind = "Notiz"\n', encoding="utf-8")
    code, out = run("docs", "put", str(note), "--meta", str(meta), "--author", "Kai Kiel",
                    "--date", "2026-10", "--url", url, "--token", CMS_TOKEN, "--wait", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["changed"] and result["build"]["state"] == "succeeded"
    assert result["build"]["report"]["added"] == ["nordlicht.md"]
    sidecar = (editable_server.corpus / "nordlicht.meta.toml").read_text(encoding="utf-8")
    assert 'title = "Übung Nordlicht"' in sidecar and "Kai Kiel" in sidecar

    code, out = run("docs", "put", str(note), "--meta", str(meta), "--author", "Kai Kiel",
                    "--date", "2026-10", "--url", url, "--token", CMS_TOKEN)
    assert code == 0 and "unchanged" in out, out

    code, out = run("docs", "list", "-q", "nordlicht", "--url", url, "--token", CMS_TOKEN)
    assert code == 0 and "nordlicht" in out and "indexed in" in out, out

    code, out = run("docs", "rm", "nordlicht", "--url", url, "--token", CMS_TOKEN, "--wait")
    assert code == 0 and "removed ['nordlicht.md']" in out, out

    code, out = run("docs", "rm", "nordlicht", "--url", url, "--token", CMS_TOKEN)
    assert code == 4 and "no document" in out, out
    code, out = run("docs", "list", "--url", url, "--token", "wrong-token-0123456789")
    assert code == 4 and "token is wrong" in out, out


@pytest.mark.slow
def test_async_client_uploads_and_follows_the_build(editable_server: EditableServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(editable_server.url, api_key=ADMIN_TOKEN) as client:
            change = await client.put_document("async-notiz", NOTE.encode(),
                                               media_type="text/plain", title="Async-Notiz")
            assert change.changed and change.build_id
            build = await client.wait_for_build(change.build_id)
            assert build.state == "succeeded"
            status = await client.document_status("async-notiz")
            assert status.status == "indexed" and status.version == build.version
            listed = await client.admin_documents(query="Async-Notiz")
            assert [d.doc_id for d in listed.documents] == ["async-notiz"]
            removed = await client.delete_document("async-notiz")
            assert (await client.wait_for_build(removed.build_id or "")).state == "succeeded"
            assert (await client.builds(limit=1)).builds[0].id == removed.build_id

    asyncio.run(scenario())
