"""The HTML report of a real run, opened in headless Chromium: its first screen holds the answer (what each
environment costs) and the start of the forest plot, before the verdicts; every plot decodes, it logs no console
error and sends no request anywhere (a self-contained file)."""
from __future__ import annotations

import shutil

import pytest

from conftest import DATA
from screenshot import CHROMIUM, FIRST_SCREEN, first_screen
from vbench.report import build_report

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./setup.sh installs it)")
def test_report_renders_offline_in_chromium_with_the_answer_on_its_first_screen(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA / "runs" / "small", run)  # a real native + docker:volume run recorded here
    report = build_report(run)
    errors, requests = [], []

    def watch(page) -> None:
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url))

    def look(page) -> dict:
        box = "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }"
        return {"widths": page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)"),
                "answer": page.eval_on_selector("#answer ul.answer", box),
                "plot": page.eval_on_selector("#answer img", box),
                "verdicts": page.eval_on_selector("#verdicts", box),
                "lines": page.eval_on_selector_all("#answer li", "items => items.map(i => i.textContent)")}

    seen = first_screen(report, tmp_path / "report.png", before=watch, after=look)
    assert seen["widths"] and all(w > 0 for w in seen["widths"]), "every plot decodes"
    height = FIRST_SCREEN["height"]
    assert seen["answer"][1] < height, "the cost of each environment is on the first screen"
    assert seen["plot"][0] < height * 0.8, "the forest plot starts on the first screen"
    assert seen["answer"][1] < seen["plot"][0] < seen["verdicts"][0]  # the answer, its plot, then the verdicts
    assert seen["lines"] == ["docker:volume: median -19.7% over 3 cases, from -90.9% to +1.7%; 0 slower, 0 faster, "
                             "0 with no detectable difference, 3 without an interval (too few pairs)"]
    assert errors == []
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert outside == [], f"the report reached out to {outside}"
    assert (tmp_path / "report.png").stat().st_size > 10_000
