"""The admin page (/admin) in Debian's Chromium against a real server that may be changed.

An editor signs in with the keyboard, finds a document by its title, uploads a
small PDF made here that becomes answerable, removes a document and rolls the
index back with one click, in German and in English.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.builds import wait_idle
from tests.api.studies import study_pdf
from tests.conftest import ADMIN_TOKEN, EditableServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

#: a study only this test uploads, with a fact nothing else states
ARCTIC = (
    "Das Arktis-Radarnetz der Allianz soll bis 2029 aus 57 Stationen zwischen Spitzbergen "
    "und Grönland bestehen. Die Stationen melden ihre Daten an ein Lagezentrum in Bodø, das "
    "rund um die Uhr besetzt ist.",
    "Die Kosten teilen sich Norwegen, Dänemark, Island und Kanada; die übrigen Verbündeten "
    "tragen den Betrieb des Lagezentrums gemeinsam.",
)
ARCTIC_QUESTION = "Aus wie vielen Stationen soll das Arktis-Radarnetz bestehen?"
#: a build of one small document on a busy two-core machine, plus the first model load
BUILD_MS = 240_000


def sign_in(page: Page, server: EditableServer) -> None:
    page.goto(server.url + "/admin")
    expect(page.locator("#token")).to_be_focused()
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page.locator("#doc-table tbody tr").first).to_be_visible()


def row(page: Page, doc_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#doc-table tr[data-doc="{doc_id}"]')


def test_wrong_token_is_refused_and_english_works(page: Page,
                                                  editable_server: EditableServer) -> None:
    page.goto(editable_server.url + "/admin?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#signin-h")).to_have_text("Sign in")
    page.fill("#token", "not-the-token-0123456789")
    page.keyboard.press("Enter")
    expect(page.locator("#signin-error")).to_have_text("The token is wrong.")
    expect(page.locator("#app")).to_be_hidden()
    page.fill("#token", ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page.locator("#documents-h")).to_have_text("Documents")
    expect(page.locator("#doc-table tbody tr").first).to_contain_text("indexed in")
    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("#documents-h")).to_have_text("Dokumente")
    expect(page.locator("#doc-table tbody tr").first).to_contain_text("indexiert in")


def test_search_upload_answer_remove_and_roll_back(
    page: Page, editable_server: EditableServer, tmp_path: Path
) -> None:
    server = editable_server
    wait_idle(server.url, ADMIN_TOKEN)
    sign_in(page, server)

    # search by title
    page.fill("#search", "Rutte")
    expect(page.locator("#doc-table tbody tr")).to_have_count(1)
    expect(row(page, "002_7ab4b17f7a80dd35")).to_contain_text("indexiert in")
    page.fill("#search", "")

    # upload a PDF made here; it becomes answerable
    pdf = tmp_path / "Arktis Radar.pdf"
    pdf.write_bytes(study_pdf("Radar in der Arktis", ARCTIC))
    page.set_input_files("#up-file", str(pdf))
    expect(page.locator("#up-id")).to_have_value("Arktis-Radar")
    page.fill("#up-title", "Radar in der Arktis")
    page.fill("#up-authors", "Nora Nord, Sven Süd")
    page.fill("#up-date", "2026-09")
    page.select_option("#up-language", "de")
    page.locator("#upload").click()
    expect(page.locator("#notice")).to_contain_text("„Arktis-Radar“ gespeichert")
    expect(row(page, "Arktis-Radar")).to_be_visible()
    expect(page.locator("#build-state")).not_to_have_text("Kein Aufbau läuft.")
    expect(row(page, "Arktis-Radar")).to_have_attribute("data-status", "indexed",
                                                         timeout=BUILD_MS)
    expect(page.locator("#build-state")).to_have_text("Kein Aufbau läuft.")
    expect(page.locator("#build-list li").first).to_contain_text("put Arktis-Radar (admin)")
    answer = httpx.post(server.url + "/api/v1/ask", json={"question": ARCTIC_QUESTION, "k": 3},
                        timeout=60).json()
    assert "57 Stationen" in answer["answer"]
    assert any(c["title"] == "Radar in der Arktis" for c in answer["citations"] if c["used"])

    # remove it with the keyboard (the browser asks first)
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "Arktis-Radar").get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_contain_text("„Arktis-Radar“ entfernt")
    expect(row(page, "Arktis-Radar")).to_have_count(0, timeout=BUILD_MS)
    assert not (server.corpus / "Arktis-Radar.pdf").exists()

    # the version with the study is one back: roll back to it with one click
    versions = page.locator("#version-table tbody tr")
    expect(versions.first).to_have_class("current")
    versions.nth(1).get_by_role("button", name="Zurückrollen").click()
    expect(page.locator("#notice")).to_contain_text("ist jetzt aktuell")
    expect(versions.nth(1)).to_have_class("current")
    expect(row(page, "Arktis-Radar")).to_contain_text("entfernt, noch im Index")
    answer = httpx.post(server.url + "/api/v1/ask", json={"question": ARCTIC_QUESTION, "k": 3},
                        timeout=60).json()
    assert "57 Stationen" in answer["answer"]
