"""Take the admin page's screenshots for docs/DOCUMENTS.md (docs/admin-*.png).

Needs a running server with NATOQA_ADMIN_TOKEN set, e.g.::

    NATOQA_ADMIN_TOKEN=… .venv/bin/natoqa serve --port 8000 &
    .venv/bin/python -m tests.widget.make_admin_screenshots --url http://127.0.0.1:8000 --token …
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.widget.browser import launch

DOCS = Path(__file__).resolve().parents[2] / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="a running natoqa server")
    parser.add_argument("--token", required=True, help="its NATOQA_ADMIN_TOKEN")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(args.url.rstrip("/") + "/admin")
        page.fill("#token", args.token)
        page.keyboard.press("Enter")
        page.locator("#doc-table tbody tr").first.wait_for()
        page.locator("#version-table tbody tr").first.wait_for()
        page.mouse.move(0, 0)  # no hover effects in the picture
        page.evaluate("document.activeElement.blur()")  # nor a focus ring
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(args.out / "admin-documents.png"))
        print(f"wrote {args.out / 'admin-documents.png'}")
        page.locator("#versions-h").evaluate("el => el.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(args.out / "admin-versions.png"))
        print(f"wrote {args.out / 'admin-versions.png'}")
        context.close()
        browser.close()


if __name__ == "__main__":
    main()
