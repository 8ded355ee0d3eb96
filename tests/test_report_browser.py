"""The HTML report of a real run, opened in headless Chromium: it renders the verdicts and the plots, logs no
console error and sends no request anywhere (a self-contained file)."""
from __future__ import annotations

import shutil

import pytest

from conftest import DATA
from vbench.report import build_report

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./setup.sh installs it)")
def test_report_renders_offline_in_chromium(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA / "runs" / "small", run)  # a real native + docker:volume run recorded here
    report = build_report(run)
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1800})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("networkidle")
        verdicts = page.get_by_text("Verdicts", exact=False).first
        assert verdicts.is_visible()
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert widths and all(w > 0 for w in widths), "every plot decodes"
    assert errors == []
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert outside == [], f"the report reached out to {outside}"
    assert (tmp_path / "report.png").stat().st_size > 10_000
