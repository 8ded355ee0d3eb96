"""The HTML report: self-contained, verdicts first, TCG marked as emulation, every result string escaped."""
from __future__ import annotations

import base64
import sys
import types
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vbench.report import build_report
from vbench.store import RunStore, from_record, meta_from

SCRIPT = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(1)>'
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ATTR_ESCAPED = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
DATA_SVG = "data:image/svg+xml;base64,"


class Markup(HTMLParser):
    """Every start tag with its attributes, and the text of <style> elements."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.style = ""
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data

    def imgs(self) -> list[str]:
        return [attrs.get("src") or "" for tag, attrs in self.tags if tag == "img"]


def assert_self_contained(html: str) -> Markup:
    """No script, no external reference in any attribute or style, every image an SVG data URI."""
    markup = Markup(html)
    names = {tag for tag, _ in markup.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "base", "svg"}, names
    for tag, attrs in markup.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name, value in attrs.items():
            assert "http://" not in (value or "") and "https://" not in (value or ""), (tag, name, value)
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs
    assert "url(" not in markup.style and "@import" not in markup.style and "http" not in markup.style
    for src in markup.imgs():
        assert src.startswith(DATA_SVG), src[:60]
        assert b"<svg" in base64.b64decode(src[len(DATA_SVG):])[:2000]
    return markup


@dataclass(frozen=True)
class FakeVerdict:
    claim_id: str
    claim: str
    source: str
    verdict: str
    reason: str
    cases: tuple = field(default_factory=tuple)


def fake_claims(monkeypatch, verdicts: list[FakeVerdict]) -> None:
    module = types.ModuleType("vbench.claims")
    module.evaluate = lambda frame: verdicts
    monkeypatch.setitem(sys.modules, "vbench.claims", module)


def _meta(envs: list[str], cases: list[str], host_extra: dict | None = None, fp_extra: str = "") -> dict:
    fingerprints = {"native": {"kind": "native", "python": "/usr/bin/python3", "variant": None}}
    for env in envs[1:]:
        kind, _, variant = env.partition(":")
        fingerprints[env] = {"kind": kind, "variant": variant, "image": "vbench/guest:abc" + fp_extra}
    return {
        "baseline": "native", "environments": envs, "env_fingerprints": fingerprints,
        "host": {"cpu_model": "Test CPU", "cpu_logical": 2, "memory_bytes": 8 * 2**30, "os": "Debian",
                 "kernel": "6.1.0", **(host_extra or {})},
        "lifecycles": {env: {"notes": [], "provision_s": 0.1, "provision_start": 1795954377.1,
                             "teardown_s": 0.05, "teardown_start": 1795955062.5} for env in envs},
        "rounds": {"done": 3, "planned_min": 3, "max": 4, "stop_reason": "every CI within +-5 pp",
                   "decisions": [{"after_round": 3, "more": False, "reason": "every CI within +-5 pp"}]},
        "seed": 1234, "skipped_environments": {}, "started_at": "2026-11-29T12:00:00.000+00:00",
        "ended_at": "2026-11-29T12:05:00.000+00:00", "status": "complete", "vbench_version": "0.1.0",
        "suite": {"name": "synthetic", "description": "made by a test" + fp_extra, "quick": True,
                  "environments": envs, "source": "test",
                  "entries": [{"name": c, "params": {"seconds": 0.5}, "workload": "cpu.sha256"} for c in cases],
                  "plan": {"warmup_rounds": 1, "min_rounds": 3, "max_rounds": 4, "ci_target_pct": 5.0}},
    }


def _trial(seq: int, round_: int, case: str, env: str, value: float, **extra) -> dict:
    kind, _, variant = env.partition(":")
    status = extra.pop("status", "ok")
    tid = f"{'w' if round_ < 0 else 'r'}{abs(round_):03d}-{case}@{env}"
    record = {
        "schema_version": 1, "run_id": "synthetic", "trial_id": tid, "round": round_, "warmup": round_ < 0,
        "seq": seq, "case": case, "workload": "cpu.sha256", "params": {"seconds": 0.5}, "environment": env,
        "env_kind": kind, "variant": variant or None, "status": status, "error": extra.pop("error", None),
        "started_at": f"2026-11-29T12:{seq // 60:02d}:{seq % 60:02d}.000+00:00", "host_wall_s": 0.6,
        "guest_duration_s": 0.5, "guest_wall_s": None, "primary": "throughput",
        "metrics": {"throughput": {"value": value, "unit": "MiB/s", "higher_is_better": True}} if status == "ok"
        else {},
        "flags": extra.pop("flags", []), "info": extra.pop("info", {}), "guest": {}, "collectors": {},
        "stderr_tail": "",
    }
    return {**record, **extra}


SERIES = {"psutil": [{"t": 0.1 * i, "cpu_user_s": 0.09 * i, "cpu_system_s": 0.01 * i, "rss_bytes": 20e6 + i,
                      "read_bytes": 1e6 * i, "write_bytes": 0, "host_iowait_pct": 0.0} for i in range(1, 8)],
          "cgroup": [{"t": 0.1 * i, "cpu_usage_s": 0.1 * i, "memory_bytes": 30e6, "io_read_bytes": 5e9 + 1e6 * i,
                      "io_write_bytes": 0} for i in range(1, 8)]}


def write_run(results: Path, run_id: str, cases: list[str], envs: list[str], *, text: str = "",
              samples: dict | None = None) -> Path:
    """A finished run shaped like a real one: a warmup and three measured rounds of every case in every
    environment; the VM under TCG (recorded on its trials only); one failed and one flagged trial."""
    store = RunStore.create(results, run_id, meta_from(_meta(envs, cases, {"cpu_flags": text} if text else None,
                                                               text)))
    speed = {"native": 100.0, "docker:volume": 98.0, "vm:virtio": 6.0}
    seq = 0
    for round_ in (-1, 1, 2, 3):
        for case in cases:
            for env in envs:
                seq += 1
                extra: dict = {"accelerator": "tcg", "emulation": True} if env.startswith("vm") else {}
                if round_ == 2 and env == envs[-1] and case == cases[-1]:
                    extra.update(status="failed", error="the workload crashed" + text)
                if round_ == 3 and env == "docker:volume":
                    extra.update(flags=["page-cache-read"], info={"io_mode": "direct" + text})
                trial = _trial(seq, round_, case, env, speed.get(env, 50.0) * (1 + 0.02 * round_), **extra)
                trial["samples"] = store.write_samples(f"t{seq:04d}", samples if samples is not None else SERIES)
                store.append_trial(from_record(trial))
    return store.dir


@pytest.fixture
def two_env_run(tmp_path: Path) -> Path:
    return write_run(tmp_path, "synthetic", ["sha", "zlib"], ["native", "docker:volume", "vm:virtio"])


def test_native_only_run_writes_report_beside_it(tiny_run: Path):
    path = build_report(tiny_run)
    assert path == tiny_run / "report.html"
    html = path.read_text()
    assert_self_contained(html)
    assert "http://" not in html and "https://" not in html
    assert "only the native baseline ran" in html
    assert html.index('id="verdicts"') < html.index('id="overhead"')


def test_two_environment_report(two_env_run: Path, tmp_path: Path):
    out = tmp_path / "elsewhere.html"
    assert build_report(two_env_run, out) == out
    html = out.read_text()
    markup = assert_self_contained(html)
    assert "http://" not in html and "https://" not in html
    assert len(markup.imgs()) >= 6  # forest plot, overhead bars, distributions, one time series per environment
    answer, verdicts, overhead = html.index('id="answer"'), html.index('id="verdicts"'), html.index('id="overhead"')
    assert answer < html.index("<img") < verdicts < overhead  # the answer and its forest plot first
    assert "vm:virtio (TCG emulation)" in html
    assert "page-cache-read" in html and "the workload crashed" in html
    assert "<details>" in html and "r003-zlib@vm:virtio" in html


def test_verdicts_come_first_and_are_styled(two_env_run: Path, monkeypatch):
    case = {"case": "sha", "environment": "vm:virtio", "overhead_pct": 1500.0, "ci_low": 1400.0,
            "ci_high": 1600.0, "published_pct": 1.0}
    fake_claims(monkeypatch, [
        FakeVerdict("vm-cpu", "VMs cost ~1% on CPU work", "slides", "emulation", "ran under TCG", (case,)),
        FakeVerdict("docker-io", "Docker adds no I/O overhead", "Felter", "holds", "within 2%"),
        FakeVerdict("vm-io", "VMs lose up to 30% on I/O", "slides", "not run", "no VM I/O trials"),
    ])
    html = build_report(two_env_run).read_text()
    assert html.index("VMs cost ~1% on CPU work") < html.index('id="overhead"')
    assert 'class="verdict v-emulation"' in html and 'class="verdict v-holds"' in html
    assert "sha @ vm:virtio (TCG emulation): +1,500% [+1,400%, +1,600%]; published +1.0%" in html


def test_claims_unavailable(two_env_run: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vbench.claims", None)
    html = build_report(two_env_run).read_text()
    assert "claims unavailable" in html
    assert_self_contained(html)


def test_result_strings_are_escaped(tmp_path: Path, monkeypatch):
    fake_claims(monkeypatch, [FakeVerdict("x" + ATTR, SCRIPT, ATTR, "refuted" + SCRIPT, "because " + SCRIPT,
                                          ({"case": SCRIPT, "environment": ATTR, "overhead_pct": 1.0,
                                            "ci_low": 0.5, "ci_high": 1.5},))])
    run = write_run(tmp_path, "inject", [SCRIPT, ATTR, "plain$1$"], ["native", "docker:volume"],
                    text=SCRIPT + ATTR)
    html = build_report(run).read_text()
    assert SCRIPT not in html and ATTR not in html
    assert SCRIPT_ESCAPED in html and ATTR_ESCAPED in html
    markup = assert_self_contained(html)
    assert all(attrs.get("src") != "x" for tag, attrs in markup.tags)


def test_missing_and_foreign_samples_are_noted(tmp_path: Path):
    run = write_run(tmp_path, "nosamples", ["sha"], ["native", "docker:volume"], samples={})
    lines = (run / "trials.jsonl").read_text().replace('"samples": "samples/', '"samples": "../../').splitlines()
    (run / "trials.jsonl").write_text("\n".join(lines) + "\n")
    html = build_report(run).read_text()
    assert "points outside the run directory" in html
    assert_self_contained(html)


def test_run_without_trials(tmp_path: Path):
    store = RunStore.create(tmp_path, "empty", meta_from(_meta(["native"], ["sha"])))
    html = build_report(store.dir).read_text()
    assert "No measured trial succeeded" in html
    assert_self_contained(html)


def test_the_host_table_reads_with_labels_and_units(two_env_run: Path):
    html = build_report(two_env_run).read_text()
    host = html[html.index("<h3>Host</h3>"):html.index('<div class="cards">')]
    assert "<tr><th>CPU (logical)</th><td>2</td></tr>" in host and "<tr><th>Memory</th><td>8.00 GiB</td></tr>" in host
    assert "cpu_logical" not in host and "memory_bytes" not in host and "8,589,934,592" not in host
    assert "<tr><th>Provisioning</th><td>100 ms</td></tr>" in html  # an environment's lifecycle
    assert '<td class="num">104 MiB/s</td>' in html and "3 measured rounds followed" in html
    assert "(s)" not in html  # no "round(s)", "trial(s)", "claim(s)" left


def test_fingerprint_keys_read_as_labels_and_values_with_units():
    import json

    from vbench.report import fields

    meta = json.loads((Path(__file__).parent / "data" / "runs" / "small" / "run.json").read_text())
    host = fields.definition_rows(meta["host"])
    assert host[:5] == [("Host name", "vm"), ("CPU model", "Intel(R) Xeon(R) Processor"), ("CPU (logical)", "2"),
                        ("CPU (physical)", "2"), ("Memory", "23.5 GiB")]
    assert ("Under a hypervisor", "yes") in host and ("CPU steal at start", "590 ms") in host
    docker = dict(fields.definition_rows(meta["env_fingerprints"]["docker:volume"]))
    assert docker["blkio counting rule"] == "Device: /dev/vda; Rate: 97.7 GiB/s" and docker["CPUs"] == "-"
    lifecycle = dict(fields.definition_rows(meta["lifecycles"]["docker:volume"]))
    assert lifecycle["Provisioning"] == "282 ms" and lifecycle["Provisioning started"] == "2026-11-29 12:43:02.774 UTC"
    assert fields.definition_rows({"zz_note": "x", "rss_max_bytes": 12005376, "memory_mb": 2048}) == [
        ("Memory", "2.00 GiB"), ("Rss max bytes", "11.4 MiB"), ("Zz note", "x")]  # known keys first, then by key
