"""Take the README's screenshots of the widget (docs/widget-desktop.png, docs/widget-mobile.png).

Needs a running server with the bundled corpus indexed, e.g.::

    .venv/bin/natoqa serve --port 8000 &
    .venv/bin/python -m tests.widget.make_screenshots --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import ViewportSize, sync_playwright

from tests.widget.browser import launch
from tests.widget.helpers import ask, open_panel

DOCS = Path(__file__).resolve().parents[2] / "docs"

SHOTS: list[tuple[str, ViewportSize, str, bool]] = [
    # name, viewport, question, open the first card's full passage too
    ("widget-desktop.png", {"width": 1280, "height": 860},
     "Wer ist der neue NATO-Generalsekretär?", True),
    ("widget-mobile.png", {"width": 390, "height": 844},
     "Wie hoch sollen die Verteidigungsausgaben sein?", False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="a running natoqa server")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for name, viewport, question, expand in SHOTS:
            context = browser.new_context(viewport=viewport, locale="de-DE")
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto(args.url.rstrip("/") + "/")
            open_panel(page)
            message = ask(page, question)
            message.locator(".ref").first.click()
            if expand:
                message.locator("details[open] .expand").click()
                message.locator("details[open] .passage .main").wait_for()
            # The question at the top of the panel: question, answer, card.
            page.locator("natoqa-chat .msg.user").last.evaluate(
                "el => el.scrollIntoView({block: 'start'})"
            )
            page.mouse.move(0, 0)  # no hover effects in the picture
            page.evaluate("document.activeElement.blur()")  # nor a focus ring
            page.screenshot(path=str(args.out / name))
            print(f"wrote {args.out / name}")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
