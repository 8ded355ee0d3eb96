"""A fleet over real SSH: an sshd of the test's own on a loopback port (with a fleet cache of its own, through
sshd's SetEnv) stands in for a remote host, ``local`` is the other. Bootstrap from a wheel, a run on both, a host
lost mid-run and resumed, a build mismatch, and a host name a shell would misread; no traffic leaves loopback."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

import vbench
from conftest import ROOT, TINY_SUITE, VBENCH, default_sigint
from sshd import SSHD, start_sshd
from test_hosts import HAVE_OPENSSH

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_OPENSSH, reason=f"ssh or {SSHD} is missing")]

LONGER = TINY_SUITE.replace("min_rounds = 2\nmax_rounds = 2", "min_rounds = 5\nmax_rounds = 5")


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A directory for the module: the suites, the local host's fleet cache, the sshd's cache (shared by every
    sshd of the module, so vbench is installed there once)."""
    base = tmp_path_factory.mktemp("fleet")
    (base / "tiny.toml").write_text(TINY_SUITE)
    (base / "longer.toml").write_text(LONGER)
    return base


def fleet(place: Path, *args: str, config: Path | None = None, timeout: float = 900, **popen):
    env = {**os.environ, "VBENCH_FLEET_HOME": str(place / "home-local"), "COLUMNS": "200"}
    argv = [*VBENCH, "run", *args, *(["--ssh-config", str(config)] if config else [])]
    if popen:
        return subprocess.Popen(argv, cwd=ROOT, env=env, **popen)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def sshd(place: Path, name: str, alias: str = "bench-b"):
    return start_sshd(place / name, alias, env={"VBENCH_FLEET_HOME": str(place / "home-b")})


@pytest.fixture(scope="module")
def first(place):
    """One fleet of local and the loopback host: the loopback host gets vbench from a wheel on the way."""
    server = sshd(place, "sshd-first")
    try:
        done = fleet(place, "--host", "local", "--host", "bench-b", "--suite", str(place / "tiny.toml"),
                     "--output", str(place / "results"), config=server.config)
    finally:
        server.stop()
    return done, place


def the_fleet(results: Path) -> Path:
    (directory,) = [p for p in results.iterdir() if (p / "fleet.json").is_file()]
    return directory


def test_a_host_without_vbench_gets_it_and_both_hosts_run(first):
    done, place = first
    assert done.returncode == 0, done.stderr
    assert "bench-b: installing vbench" in done.stderr
    assert "reach one machine" in done.stderr  # the loopback sshd is this machine: one after the other
    directory = the_fleet(place / "results")
    record = json.loads((directory / "fleet.json").read_text())
    assert record["status"] == "complete" and [h["status"] for h in record["hosts"]] == ["complete", "complete"]
    assert record["machines"] == [["local", "bench-b"]]
    trials = vbench.load(directory)
    assert set(trials["host"]) == {"local", "bench-b"} and set(trials["status"]) == {"ok"}
    assert trials.groupby("host")["trial_id"].nunique().to_dict() == {"local": 12, "bench-b": 12}
    for host in ("local", "bench-b"):  # every host's directory is a run any vbench command reads
        run = json.loads((directory / "hosts" / host / "run.json").read_text())
        assert run["status"] == "complete" and run["host"]["cpu_model"]
        assert (directory / "hosts" / host / "report.html").is_file()
    assert "fleet" in done.stdout and "local" in done.stdout and "bench-b" in done.stdout
    # what the loopback host keeps: its cache only (vbench, the suite's copy, its run)
    assert sorted(p.name for p in (place / "home-b").iterdir()) == ["build", "results", "suites", "venv"]


def test_two_hosts_of_a_fleet_compare(first):
    _, place = first
    hosts = the_fleet(place / "results") / "hosts"
    done = subprocess.run([*VBENCH, "compare", str(hosts / "local"), str(hosts / "bench-b")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "sha" in done.stdout and "loop" in done.stdout


def test_a_host_lost_mid_run_fails_alone_and_resume_completes_it(first, tmp_path):
    """The loopback host's sshd and its sessions are killed while it runs: its part fails with why, and local,
    next on the same machine, still runs and finishes; --resume resumes the lost one on the host, keeping the
    trials it had streamed."""
    _, place = first
    server = sshd(place, "sshd-lost")
    results = tmp_path / "results"
    proc = fleet(place, "--host", "bench-b", "--host", "local", "--suite", str(place / "longer.toml"), "--output",
                 str(results), config=server.config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        streamed = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(results.glob("*/hosts/bench-b/trials.jsonl"))
            if found and len(found[0].read_text().splitlines()) >= 4:
                streamed = found[0]
                break
            time.sleep(0.1)
        assert streamed is not None, "the loopback host never streamed its trials"
        running = json.loads((streamed.parents[2] / "fleet.json").read_text())  # what a killed fleet would keep
        assert running["status"] == "running" and running["run_options"] == ["--suite", str(place / "longer.toml")]
        gone = psutil.Process(server.proc.pid)  # the host is gone: the listener, the connection, its vbench
        for process in [gone, *gone.children(recursive=True)]:
            process.kill()
        out, err = proc.communicate(timeout=300)
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "bench-b: failed: bench-b was lost" in err
    directory = the_fleet(results)
    record = json.loads((directory / "fleet.json").read_text())
    assert [h["host"] for h in record["hosts"]] == ["bench-b", "local"]
    assert record["hosts"][0]["status"] == "failed" and record["hosts"][0]["reason"].startswith("bench-b was lost")
    assert record["hosts"][1]["status"] == "complete" and record["status"] == "partial"
    kept = len(streamed.read_text().splitlines())
    assert kept >= 4

    revived = sshd(place, "sshd-revived")  # the host is back (on another port: the alias follows it)
    try:
        done = fleet(place, "--resume", str(directory), config=revived.config)
    finally:
        revived.stop()
    assert done.returncode == 0, done.stderr
    record = json.loads((directory / "fleet.json").read_text())
    assert [h["status"] for h in record["hosts"]] == ["complete", "complete"] and record["status"] == "complete"
    trials = vbench.load(directory)
    per_host = trials.groupby("host")["trial_id"].nunique().to_dict()
    assert per_host == {"local": 24, "bench-b": 24}  # 2 cases x (1 warmup + 5 rounds) x 2 environments


def test_a_host_with_another_build_is_refused_unless_setup(place, tmp_path):
    """Without --provision: one line, before anything is written. With it: this build replaces the other and the
    host is set up (``vbench setup`` there: as root over loopback here, where it finds everything in place)."""
    home = tmp_path / "home-other"
    home.mkdir()
    (home / "build").write_text("0.0.1+000000000000\n")
    server = start_sshd(tmp_path / "sshd", "bench-c", env={"VBENCH_FLEET_HOME": str(home)})
    try:
        refused = fleet(place, "--host", "bench-c", "--suite", str(place / "tiny.toml"), "--output",
                        str(tmp_path / "results"), config=server.config)
        assert refused.returncode == 1
        assert "bench-c has vbench 0.0.1+000000000000" in refused.stderr and "give --provision" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "results").exists()  # refused before anything was written
        if os.geteuid() != 0:
            pytest.skip("vbench setup on the host needs a root login")
        done = fleet(place, "--host", "bench-c", "--provision", "--suite", str(place / "tiny.toml"), "--output",
                     str(tmp_path / "results"), config=server.config)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "bench-c: installing vbench" in done.stderr and "bench-c: vbench setup" in done.stderr
    assert (home / "build").read_text().strip() != "0.0.1+000000000000"


@pytest.mark.parametrize("host", ["bench;touch {canary}", "$(touch {canary})", "-oProxyCommand=touch {canary}"])
def test_a_host_name_with_shell_metacharacters_never_reaches_a_shell(place, tmp_path, host):
    canary = tmp_path / "pwned"
    done = fleet(place, "--host", host.format(canary=canary), "--suite", str(place / "tiny.toml"), "--output",
                 str(tmp_path / "results"))
    if host.startswith("-o"):  # read as run's own -o (--output): a usage error before any host is parsed
        assert done.returncode == 2 and "argument --host: expected one argument" in done.stderr
    else:
        assert done.returncode == 1 and "expected local or [user@]name[:port]" in done.stderr
    assert not canary.exists() and not (tmp_path / "results").exists()


def test_the_fleet_report_shows_every_host_side_by_side(first):
    _, place = first
    directory = the_fleet(place / "results")
    html = (directory / "report.html").read_text()
    assert "<th>local</th>" in html and "<th>bench-b</th>" in html
    assert "are one machine (the same boot id)" in html
    assert 'href="hosts/local/report.html"' in html and 'href="hosts/bench-b/report.html"' in html
    assert html.count("data:image/svg+xml;base64,") == 1  # one environment besides native: native:aa
    (directory / "report.html").unlink()
    done = subprocess.run([*VBENCH, "report", str(directory)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (directory / "report.html").read_text() == html  # written again the same (deterministic figures)


def test_a_fleets_summary_is_each_hosts_own_table(first):
    _, place = first
    directory = the_fleet(place / "results")
    done = subprocess.run([*VBENCH, "summary", str(directory), "--format", "csv"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("host,case,metric")
    assert {line.split(",")[0] for line in lines[1:]} == {"local", "bench-b"}


def test_an_interrupted_fleet_keeps_what_every_host_finished_and_leaves_nothing_running(first, tmp_path):
    """Ctrl-C: every host's vbench is told to stop (its stdin closes), keeps what it finished, and its run comes
    back; the fleet says interrupted and exits 130, and no vbench of the fleet is left running anywhere."""
    _, place = first
    server = sshd(place, "sshd-interrupted")
    results = tmp_path / "results"
    proc = fleet(place, "--host", "bench-b", "--suite", str(place / "longer.toml"), "--output", str(results),
                 config=server.config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(results.glob("*/hosts/bench-b/trials.jsonl"))
            if found and len(found[0].read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        left = [p for p in psutil.Process(server.proc.pid).children(recursive=True)
                if "vbench" in " ".join(p.cmdline())]
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert left == []
    directory = the_fleet(results)
    record = json.loads((directory / "fleet.json").read_text())
    assert record["status"] == "interrupted" and record["hosts"][0]["status"] == "interrupted"
    run = json.loads((directory / "hosts" / "bench-b" / "run.json").read_text())
    assert run["status"] == "interrupted"
    assert len((directory / "hosts" / "bench-b" / "trials.jsonl").read_text().splitlines()) >= 2


def test_the_fleet_report_renders_offline_in_chromium(first, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from screenshot import ARGS, CHROMIUM

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (./setup.sh installs it)")
    _, place = first
    report = the_fleet(place / "results") / "report.html"
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: requests.append(req.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("networkidle")
        assert page.get_by_text("Verdicts per host").first.is_visible()
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        browser.close()
    assert widths and all(w > 0 for w in widths)
    assert errors == [] and [u for u in requests if not u.startswith(("file://", "data:"))] == []
