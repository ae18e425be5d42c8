"""The widget in Debian's Chromium against a real server on the bundled corpus.

Each test starts from the demo page at ``/`` (an article page with one script
tag) or from a page served on the service's own origin, and uses the widget
the way a reader would: click or keyboard, real streamed answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.widget.helpers import (
    ask,
    finished_answers,
    marker_text,
    open_panel,
    shadow_js,
    shown_text,
    widget,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DE_QUESTION = "Wer ist der neue NATO-Generalsekretär?"
DE_FOLLOW_UP = "Welche Aufgaben erbt er von seinem Vorgänger?"
EN_QUESTION = "What is NATO's defence spending target?"
NOTHING_QUESTION = "Wie backe ich einen Apfelkuchen?"


def api(server_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The same request the widget makes, without streaming, straight to the API."""
    response = httpx.post(server_url + path, json=body, timeout=60)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def serve_page(page: Page, url: str, html: str) -> None:
    """Serve ``html`` at ``url`` (on the service's own origin) in this page only."""

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    page.route(url, fulfil)


def focused(page: Page) -> dict[str, Any]:
    """What has focus inside the widget, and whether its focus ring is visible."""
    info = shadow_js(
        page,
        """
        const el = root.activeElement;
        if (!el || document.activeElement !== root.host) return null;
        const style = getComputedStyle(el);
        return {cls: el.className, tag: el.tagName.toLowerCase(),
                ring: el.matches(':focus-visible') && style.outlineStyle !== 'none'
                      && parseFloat(style.outlineWidth) >= 2};
        """,
    )
    return info if isinstance(info, dict) else {}


def tab_to(page: Page, css_class: str, *, backwards: bool = False, limit: int = 60) -> None:
    """Press Tab (or Shift+Tab) until an element with ``css_class`` in the widget has focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if css_class in str(now.get("cls", "")).split():
            assert now["ring"], f"no visible focus ring on .{css_class}"
            return
    raise AssertionError(f"Tab never reached .{css_class}")


# --- the page and the basics ---------------------------------------------------


def test_demo_page_embeds_the_widget_with_one_script_tag(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    scripts = page.eval_on_selector_all("script", "els => els.map(s => s.getAttribute('src'))")
    assert scripts == ["widget.js"]
    launcher = page.get_by_role("button", name="Fragen zur NATO")
    expect(launcher).to_be_visible()
    # The page styles every button uppercase in Georgia; none of it reaches the widget.
    style = shadow_js(
        page,
        "const s = getComputedStyle(root.querySelector('.launcher'));"
        "return {transform: s.textTransform, font: s.fontFamily, spacing: s.letterSpacing};",
    )
    assert isinstance(style, dict)
    assert (style["transform"], style["spacing"]) == ("none", "normal")
    assert "Georgia" not in style["font"]
    # ...and the widget leaves the page alone: the article's buttons/links are unstyled by it.
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("Georgia")
    # No third-party requests: everything the page loaded came from the service.
    hosts = page.evaluate("performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
    assert set(hosts) <= {server_url.removeprefix("http://")}


def test_german_question_streams_the_answer(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    open_panel(page)
    expect(widget(page, ".suggestion")).to_have_count(3)
    # Record the answer text each time the widget re-renders it while the stream is open.
    page.evaluate(
        """() => {
        window.__steps = [];
        const root = document.querySelector('natoqa-chat').shadowRoot;
        new MutationObserver(records => {
          for (const r of records) {
            if (!r.target.classList || !r.target.classList.contains('text')) continue;
            if (!r.target.closest('.bot[aria-busy="true"]')) continue;
            window.__steps.push([...r.addedNodes].map(n => n.textContent).join('').length);
          }
        }).observe(root, {childList: true, subtree: true});
      }"""
    )
    with page.expect_request("**/api/v1/chat") as request_info:
        message = ask(page, DE_QUESTION)
    request = request_info.value
    assert request.post_data_json == {
        "messages": [{"role": "user", "content": DE_QUESTION}],
        "stream": True,
    }
    response = request.response()
    assert response is not None
    assert response.headers["content-type"].startswith("text/event-stream")

    expected = api(server_url, "/api/v1/ask", {"question": DE_QUESTION})
    assert not expected["no_answer"]
    assert shown_text(message) == marker_text(expected["answer"])
    steps = page.evaluate("window.__steps")
    assert len(set(steps)) >= 3, f"answer not rendered piece by piece: {steps}"
    assert steps == sorted(steps)
    # Every [n] is a button that names its source for screen readers.
    refs = message.locator(".ref")
    assert refs.count() == len(re.findall(r"\[\d+\]", expected["answer"]))
    expect(refs.first).to_have_attribute("aria-label", re.compile(r"^Quelle \d+$"))
    # Quoted sources under "Quellen", the others under "Weiterlesen": every citation has a card.
    expect(message.locator(".card")).to_have_count(len(expected["citations"]))
    expect(widget(page, ".intro")).to_be_hidden()


def test_english_page_gets_the_english_interface(page: Page, server_url: str) -> None:
    serve_page(
        page,
        server_url + "/en-article",
        '<!doctype html><html lang="en"><title>NATO</title><body><h1>NATO</h1>'
        '<script src="/widget.js"></script></body></html>',
    )
    page.goto(server_url + "/en-article")
    page.get_by_role("button", name="Ask about NATO").click()
    expect(page.get_by_role("dialog", name="Questions on the future of NATO")).to_be_visible()
    expect(page.get_by_role("textbox", name="Your question")).to_be_focused()
    message = ask(page, EN_QUESTION)
    expected = api(server_url, "/api/v1/ask", {"question": EN_QUESTION})
    assert not expected["no_answer"]
    assert shown_text(message) == marker_text(expected["answer"])
    expect(message.locator("h3").first).to_have_text("Sources")
    expect(message.get_by_role("button", name="Copy answer")).to_be_visible()


# --- citations ---------------------------------------------------------------------


def test_citation_card_opens_and_expands_to_the_passage_and_its_neighbours(
    page: Page, server_url: str
) -> None:
    page.goto(server_url + "/")
    open_panel(page)
    message = ask(page, DE_QUESTION)
    expected = api(server_url, "/api/v1/ask", {"question": DE_QUESTION})
    first = expected["citations"][0]

    message.locator(".ref").first.click()
    card = message.locator(f'.card[data-n="{first["n"]}"]')
    expect(card.locator("details")).to_have_attribute("open", "")
    expect(card.locator("summary")).to_be_focused()
    expect(card.locator(".card-title")).to_have_text(first["title"])
    expect(card.locator(".quote")).to_have_text(first["quote"])
    if first["date"]:
        expect(card.locator(".where")).to_contain_text(first["date"])

    with page.expect_response(re.compile(r"/api/v1/passages/")) as passage_info:
        card.get_by_role("button", name="Ganze Passage mit Umgebung").click()
    assert passage_info.value.ok
    context = httpx.get(
        f"{server_url}/api/v1/passages/{first['passage_id']}", params={"window": 1}
    ).json()
    box = card.locator(".passage")
    expect(box.locator(".main")).to_have_text(context["passage"]["text"])
    expect(box.locator("mark")).to_have_text(first["quote"])
    expect(box.locator(".context")).to_have_count(len(context["before"]) + len(context["after"]))
    assert context["before"] or context["after"], "the test needs a passage with neighbours"
    expect(card.locator(".expand")).to_have_attribute("aria-expanded", "true")

    card.locator(".expand").click()  # and closed again
    expect(box).to_be_hidden()
    expect(card.locator(".expand")).to_have_attribute("aria-expanded", "false")


def test_copy_answer_puts_answer_and_sources_on_the_clipboard(
    context: BrowserContext, page: Page, server_url: str
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    page.goto(server_url + "/")
    open_panel(page)
    message = ask(page, DE_QUESTION)
    message.get_by_role("button", name="Antwort kopieren").click()
    expect(widget(page, ".status")).to_have_text("Antwort kopiert.")
    copied = page.evaluate("navigator.clipboard.readText()")
    expected = api(server_url, "/api/v1/ask", {"question": DE_QUESTION})
    assert copied.startswith(expected["answer"])
    assert f"[1] {expected['citations'][0]['title']}" in copied


# --- conversation ------------------------------------------------------------------


def test_follow_up_sends_the_conversation(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    open_panel(page)
    first = ask(page, DE_QUESTION)
    first_answer = api(server_url, "/api/v1/ask", {"question": DE_QUESTION})["answer"]
    with page.expect_request("**/api/v1/chat") as request_info:
        second = ask(page, DE_FOLLOW_UP)
    body = request_info.value.post_data_json
    assert isinstance(body, dict)
    messages = body["messages"]
    assert messages == [
        {"role": "user", "content": DE_QUESTION},
        {"role": "assistant", "content": first_answer},
        {"role": "user", "content": DE_FOLLOW_UP},
    ]
    expected = api(server_url, "/api/v1/chat", {"messages": messages})
    assert shown_text(second) == marker_text(expected["answer"])
    assert shown_text(first) == marker_text(first_answer)
    expect(widget(page, ".msg.user p")).to_have_text([DE_QUESTION, DE_FOLLOW_UP])


def test_conversation_survives_navigation_within_the_site(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    open_panel(page)
    message = ask(page, DE_QUESTION)
    answer = shown_text(message)
    page.get_by_role("link", name="Teil 2").click()
    page.wait_for_url("**/?teil=2")
    # Still open, same conversation, cards still usable, and no new request was made.
    expect(widget(page, ".panel")).to_be_visible()
    expect(widget(page, ".msg.user p")).to_have_text([DE_QUESTION])
    assert shown_text(finished_answers(page).first) == answer
    finished_answers(page).first.locator(".ref").first.click()
    expect(finished_answers(page).first.locator("details[open] .quote")).to_have_count(1)

    page.get_by_role("button", name="Neues Gespräch").click()
    expect(widget(page, ".msg")).to_have_count(0)
    expect(widget(page, ".intro")).to_be_visible()
    page.reload()
    expect(widget(page, ".panel")).to_be_visible()
    expect(widget(page, ".msg")).to_have_count(0)


def test_nothing_found_is_said_plainly(page: Page, server_url: str) -> None:
    assert api(server_url, "/api/v1/ask", {"question": NOTHING_QUESTION})["no_answer"]
    page.goto(server_url + "/")
    open_panel(page)
    message = ask(page, NOTHING_QUESTION)
    expect(message).to_have_class(re.compile(r"\bnothing\b"))
    expect(message.locator(".text")).to_have_text("Dazu finde ich in den Quellen nichts.")
    expect(message.locator(".hint")).to_be_visible()
    expect(message.locator(".card")).to_have_count(0)  # no weak matches passed off as sources
    # A follow-up after "nothing" still works.
    ask(page, DE_QUESTION)
    expect(finished_answers(page).nth(1).locator(".card").first).to_be_visible()


# --- keyboard, screen readers, small screens ------------------------------------------


def test_whole_flow_with_the_keyboard_only(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    tab_to(page, "launcher")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Fragen zur Zukunft der NATO")).to_be_visible()
    question = page.get_by_role("textbox", name="Ihre Frage")
    expect(question).to_be_focused()
    expect(page.get_by_role("log")).to_have_attribute("aria-live", "polite")

    # A starter question, chosen with Shift+Tab and Enter.
    tab_to(page, "suggestion", backwards=True)
    page.keyboard.press("Enter")
    expect(finished_answers(page)).to_have_count(1)

    expect(question).to_be_focused()  # the suggestions are gone; typing goes on here
    page.keyboard.type(DE_FOLLOW_UP)
    page.keyboard.press("Enter")
    expect(finished_answers(page)).to_have_count(2)

    # Back to a citation marker of the last answer, open its card, expand it.
    tab_to(page, "ref", backwards=True)
    page.keyboard.press("Enter")
    assert focused(page)["tag"] == "summary" and focused(page)["ring"]
    expect(widget(page, "details[open]")).to_have_count(1)
    tab_to(page, "expand")
    page.keyboard.press("Enter")
    expect(widget(page, "details[open] .passage .main")).to_be_visible()

    page.keyboard.press("Escape")
    expect(widget(page, ".panel")).to_be_hidden()
    now = focused(page)
    assert "launcher" in now["cls"] and now["ring"]
    # Enter reopens with the conversation intact.
    page.keyboard.press("Enter")
    expect(finished_answers(page)).to_have_count(2)


def test_small_screens_get_a_full_screen_panel(
    browser_context_mobile: BrowserContext, server_url: str
) -> None:
    page = browser_context_mobile.new_page()
    page.goto(server_url + "/")
    open_panel(page)
    box = widget(page, ".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}
    expect(widget(page, ".launcher")).to_be_hidden()
    ask(page, DE_QUESTION)
    page.get_by_role("button", name="Schließen").click()
    expect(widget(page, ".launcher")).to_be_visible()


def test_desktop_panel_is_a_corner_panel(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    open_panel(page)
    box = widget(page, ".panel").bounding_box()
    assert box is not None
    assert box["width"] <= 420 and box["x"] > 1280 / 2  # bottom right, page still readable
    expect(widget(page, ".launcher")).to_be_hidden()


@pytest.fixture
def browser_context_mobile(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="de-DE"
    )
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


# --- errors -----------------------------------------------------------------------------


def test_unreachable_server_shows_retry_that_works(
    context: BrowserContext, page: Page, server_url: str
) -> None:
    page.goto(server_url + "/")
    open_panel(page)
    context.set_offline(True)
    widget(page, "textarea").fill(DE_QUESTION)
    widget(page, "textarea").press("Enter")
    error = widget(page, ".error.unreachable")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("nicht erreichbar")
    expect(widget(page, ".retry")).to_be_focused()
    expect(widget(page, ".bot")).to_have_count(0)

    context.set_offline(False)
    page.get_by_role("button", name="Erneut versuchen").click()
    expect(finished_answers(page)).to_have_count(1)
    expect(error).to_have_count(0)
    expect(widget(page, ".msg.user")).to_have_count(1)  # the question was not repeated


def test_page_options_strings_theme_and_position(page: Page, server_url: str) -> None:
    serve_page(
        page,
        server_url + "/themed",
        '<!doctype html><html lang="de"><body><p>Artikel</p>'
        '<script src="/widget.js" data-lang="en" data-position="left" data-accent="#7a0019"'
        ' data-title="Ask the archive"'
        """ data-strings='{"launcher": "Questions?", "suggestions": ["Only this one?"]}'>"""
        "</script></body></html>",
    )
    page.goto(server_url + "/themed")
    launcher = page.get_by_role("button", name="Questions?")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box is not None and box["x"] < 100  # bottom left
    assert shadow_js(
        page, "return getComputedStyle(root.querySelector('.launcher')).backgroundColor"
    ) == "rgb(122, 0, 25)"
    launcher.click()
    expect(page.get_by_role("dialog", name="Ask the archive")).to_be_visible()
    expect(widget(page, ".suggestion")).to_have_text(["Only this one?"])
    expect(page.get_by_role("button", name="Send")).to_be_visible()  # data-lang beats <html lang>


def test_sse_parser_copes_with_any_chunking(page: Page, server_url: str) -> None:
    """Events split at every byte (even inside a UTF-8 character); CRLF, comments, data lines."""
    page.goto(server_url + "/")
    events = page.evaluate(
        """async () => {
        const text = ': ping\\r\\n\\r\\n'
          + 'event: citations\\r\\ndata: {"n": 1,\\r\\ndata:  "t": "Bündnis"}\\r\\n\\r\\n'
          + 'event: delta\\ndata: {"text": "Größe €"}\\n\\n: ping\\n\\n'
          + 'event: done\\ndata: {"answer": "ok"}\\n\\n';
        const bytes = new TextEncoder().encode(text);
        const body = new ReadableStream({
          start(c) { for (const b of bytes) c.enqueue(new Uint8Array([b])); c.close(); }
        });
        const Chat = customElements.get('natoqa-chat');
        const out = [];
        for await (const e of Chat.readEvents(body)) out.push(e);
        return out;
      }"""
    )
    assert events == [
        {"event": "citations", "data": {"n": 1, "t": "Bündnis"}},
        {"event": "delta", "data": {"text": "Größe €"}},
        {"event": "done", "data": {"answer": "ok"}},
    ]
