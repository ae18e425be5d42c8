"""What the widget tests do again and again: open the panel, ask, read the answer."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

W = "natoqa-chat"  # Playwright's CSS locators pierce open shadow roots


def widget(page: Page, selector: str) -> Locator:
    """An element inside the widget."""
    return page.locator(f"{W} {selector}")


def open_panel(page: Page) -> None:
    widget(page, ".launcher").click()
    expect(widget(page, ".panel")).to_be_visible()


def finished_answers(page: Page) -> Locator:
    return widget(page, ".bot:not([aria-busy])")


def ask(page: Page, question: str) -> Locator:
    """Type ``question``, press Enter, and return the finished answer's message."""
    before = finished_answers(page).count()
    widget(page, "textarea").fill(question)
    widget(page, "textarea").press("Enter")
    expect(finished_answers(page)).to_have_count(before + 1)
    return finished_answers(page).nth(before)


def marker_text(answer: str) -> str:
    """An API answer as the widget shows it: each [n] becomes a button labelled n."""
    return re.sub(r"\s+", " ", re.sub(r"\[(\d+)\]", r"\1", answer)).strip()


def shown_text(message: Locator) -> str:
    return re.sub(r"\s+", " ", message.locator(".text").inner_text()).strip()


def shadow_js(page: Page, body: str) -> object:
    """Evaluate ``body`` (a function body) with ``root`` bound to the widget's shadow root."""
    return page.evaluate(
        f"() => {{ const root = document.querySelector('{W}').shadowRoot; {body} }}"
    )
