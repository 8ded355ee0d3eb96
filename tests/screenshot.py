"""A report's first screen in headless Chromium, as the README shows it and the browser test checks it.

    .venv/bin/python tests/screenshot.py results/<run-id> docs/report.png
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIRST_SCREEN = {"width": 1300, "height": 1000}


def first_screen(report: Path, png: Path, before=None, after=None):
    """Open ``report`` and save its first screen to ``png``; ``before(page)`` runs before it loads, and what
    ``after(page)`` returns once it has loaded is returned."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport=FIRST_SCREEN)
            if before:
                before(page)
            page.goto(report.as_uri())
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(png), full_page=False)
            return after(page) if after else None
        finally:
            browser.close()


if __name__ == "__main__":
    from vbench.report import build_report

    first_screen(build_report(Path(sys.argv[1]), Path("/tmp/vbench-screenshot.html")), Path(sys.argv[2]))
