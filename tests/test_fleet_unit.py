"""A fleet's scheduling and options, without ssh: machines run at once, one machine's hosts one after the other;
what each host's vbench is asked to do."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from vbench import fleet as fleet_module
from vbench.errors import VBenchError
from vbench.fleet import FetchBroken, Fleet, missing_text, run_groups
from vbench.run.request import RunRequest
from vbench.hosts import SSH, parse_hosts


def scheduled(tmp_path, boot_ids: list[str]) -> dict[str, tuple[float, float]]:
    """When each host's part ran, with ``run_host`` standing in (0.3 s each)."""
    hosts = parse_hosts([f"h{i}" for i in range(len(boot_ids))])
    fleet = Fleet(hosts, SSH(), tmp_path / "f")
    (tmp_path / "f").mkdir()
    for state, boot in zip(fleet.states, boot_ids):
        state.boot_id = boot
    spans, lock = {}, threading.Lock()

    def run_host(state, forwarded, resume):
        start = time.monotonic()
        time.sleep(0.3)
        with lock:
            spans[state.host.text] = (start, time.monotonic())
        state.status = "complete"

    fleet.run_host = run_host
    run_groups(fleet, lambda state: [], False)
    return spans


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_hosts_on_different_machines_run_at_once(tmp_path):
    spans = scheduled(tmp_path, ["m1", "m2", "m3"])
    assert overlap(spans["h0"], spans["h1"]) and overlap(spans["h1"], spans["h2"])


def test_names_of_one_machine_run_one_after_the_other(tmp_path):
    spans = scheduled(tmp_path, ["m1", "m2", "m1", "m1"])
    assert not overlap(spans["h0"], spans["h2"]) and not overlap(spans["h2"], spans["h3"])
    assert spans["h0"][1] <= spans["h2"][0] <= spans["h3"][0]  # in the order given
    assert overlap(spans["h0"], spans["h1"])


def test_a_host_that_raises_fails_alone(tmp_path):
    hosts = parse_hosts(["a", "b"])
    fleet = Fleet(hosts, SSH(), tmp_path / "f")
    (tmp_path / "f").mkdir()
    fleet.states[0].boot_id, fleet.states[1].boot_id = "m1", "m2"

    def run_host(state, forwarded, resume):
        if state.host.text == "a":
            raise OSError("the disk is full")
        state.status = "complete"

    fleet.run_host = run_host
    run_groups(fleet, lambda state: [], False)
    assert [s.said for s in fleet.states] == ["failed: OSError: the disk is full", "complete"]
    assert [s.reason for s in fleet.states] == ["OSError: the disk is full", ""]
    assert "the disk is full" in fleet_module.failures(tmp_path / "f")


def test_each_host_gets_the_runs_own_options_and_its_copy_of_the_suite():
    from vbench.cli import build_parser

    argv = ["--host", "a", "--suite", "/home/me/mine.toml", "--quick", "--host=b", "--ssh-config", "cfg",
            "--provision", "--output", "out", "--env", "native,docker:volume"]
    request = RunRequest.from_namespace(build_parser().parse_args(["run", *argv]))
    assert request.to_argv() == ["--suite", "/home/me/mine.toml", "--quick", "--env", "native,docker:volume"]
    assert request.with_suite("/remote/suites/x.toml").to_argv() == ["--suite", "/remote/suites/x.toml", "--quick",
                                                                     "--env", "native,docker:volume"]
    short = RunRequest.from_namespace(build_parser().parse_args(["run", "--suite=cpu", "--output=r"]))
    assert short.with_suite("/x.toml").to_argv() == ["--suite", "/x.toml"]


def test_a_request_round_trips_through_the_command_line():
    from vbench.cli import build_parser

    argv = ["--suite", "io", "--env", "native,vm:virtio", "--min-rounds", "7", "--ci-target", "2.5", "--seed", "0",
            "--no-aa", "--scratch", "/srv/s", "--interval", "0.5", "--container-cpus", "1.5", "--blkio-accounting",
            "--accel", "tcg", "--vm-memory", "1024", "--vm-disk-size", "16G", "--time-budget", "60"]
    request = RunRequest.from_namespace(build_parser().parse_args(["run", *argv]))
    again = RunRequest.from_namespace(build_parser().parse_args(["run", *request.to_argv()]))
    assert again == request and request.seed == 0 and request.accel == "tcg"
    dashed = RunRequest(suite="cpu", scratch="-odd", image="-x")  # a value that looks like an option
    assert RunRequest.from_namespace(build_parser().parse_args(["run", *dashed.to_argv()])) == dashed
    assert RunRequest.from_namespace(build_parser().parse_args(["run", "--suite", "cpu"])).to_argv() == \
        ["--suite", "cpu"]  # every default left out


def test_progress_events_round_trip_and_other_lines_are_not_events():
    from vbench.run.events import Event

    for event in (Event("started", run_dir="/r", planned=12), Event("skipped", count=3),
                  Event("trial", record={"trial_id": "r001-x@native", "status": "ok"}),
                  Event("replanned", planned=20, reason="CI too wide"), Event("finished", run_dir="/r", failure=None)):
        assert Event.from_json(event.to_json()) == event
    assert Event.from_json('{"event": "finished", "failure": null, "run_dir": "/r"}').failure is None
    assert Event.from_json("hello from a library") is None
    assert Event.from_json('{"event": "started"}') is None  # its fields missing
    assert Event.from_json('{"event": "exploded", "text": "x"}') is None
    assert Event.from_json('{"event": [1]}') is None and Event.from_json("[1, 2]") is None
    with pytest.raises(ValueError, match="unknown progress event"):
        Event("exploded")


def test_a_version_1_fleet_reads_with_status_and_reason_apart(tmp_path):
    from vbench.fleetdir import read_fleet

    old = {"fleet_version": 1, "hosts": [{"host": "a", "status": "failed: a was lost: reset"},
                                         {"host": "b", "status": "complete"}]}
    (tmp_path / "fleet.json").write_text(json.dumps(old))
    hosts = read_fleet(tmp_path)["hosts"]
    assert [(h["status"], h["reason"]) for h in hosts] == [("failed", "a was lost: reset"), ("complete", None)]
    assert json.loads((tmp_path / "fleet.json").read_text()) == old  # read in memory, never rewritten


def host_run(tmp_path, samples: int, size: int) -> tuple[Path, str]:
    """A finished run as a host's vbench leaves it: run.json, trials, a samples file per trial."""
    results, run_id = tmp_path / "host-results", "fleet-x-local"
    run = results / run_id
    (run / "samples").mkdir(parents=True)
    (run / "run.json").write_text('{"run_id": "fleet-x-local"}\n')
    (run / "trials.jsonl").write_text("".join(f'{{"trial_id": "t{i}", "host": "own"}}\n' for i in range(samples)))
    for i in range(samples):
        (run / "samples" / f"t{i:03d}.json").write_bytes(os.urandom(size))
    return results, run_id


def local_fleet(tmp_path) -> tuple[Fleet, object]:
    fleet = Fleet(parse_hosts(["local"]), SSH(), tmp_path / "f")
    (tmp_path / "f").mkdir()
    return fleet, fleet.states[0]


def test_a_fetch_cut_off_half_way_keeps_what_arrived_whole_and_names_what_is_missing(tmp_path, monkeypatch):
    """The host's end of the fetch really stops after 300 kB (a stand-in python3 pipes the real one through
    head): the files that arrived whole are kept, the one cut off is not, the streamed trials stay, and the
    error names what is missing; fetched again, the run is whole and the host's own trials replace them."""
    results, run_id = host_run(tmp_path, samples=20, size=40_000)
    fleet, state = local_fleet(tmp_path)
    target = fleet.host_dir(state)
    target.mkdir(parents=True)
    (target / "trials.jsonl").write_text('{"trial_id": "t0", "host": "streamed"}\n' * 20)
    stand_in = tmp_path / "bin" / "python3"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\ncase "$2" in *tarfile*) "{shutil.which("python3")}" "$@" | head -c 300000; '
                        f'exit 1;; esac\nexec "{shutil.which("python3")}" "$@"\n')
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stand_in.parent}:{os.environ['PATH']}")
    with pytest.raises(FetchBroken) as broken:
        fleet.fetch(state, str(results), run_id)
    said = str(broken.value)
    assert "\n" not in said and said.startswith("local: fetching its run broke after ")
    assert "kept what arrived whole and 20 streamed trials; missing" in said
    assert "missing: samples/ (" in said and "trials.jsonl" in said and "--resume" in said
    assert (target / "run.json").read_text() == (results / run_id / "run.json").read_text()
    kept = sorted((target / "samples").iterdir())
    assert 0 < len(kept) < 20  # some whole, the rest missing
    for sample in kept:  # none cut off
        assert sample.read_bytes() == (results / run_id / "samples" / sample.name).read_bytes()
    assert (target / "trials.jsonl").read_text().count("streamed") == 20
    assert not list(fleet.dir.glob(".fetch-*"))  # no temporary directory left
    monkeypatch.undo()
    fleet.fetch(state, str(results), run_id)  # the host is reachable again
    assert len(list((target / "samples").iterdir())) == 20
    assert (target / "trials.jsonl").read_text() == (results / run_id / "trials.jsonl").read_text()


def test_a_fetch_streams_to_disk_instead_of_holding_the_run_in_memory(tmp_path):
    """64 MiB of samples fetched with Python's allocations traced: the peak stays a small fraction of it."""
    results, run_id = host_run(tmp_path, samples=64, size=1 << 20)
    fleet, state = local_fleet(tmp_path)
    tracemalloc.start()
    try:
        fleet.fetch(state, str(results), run_id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(list((fleet.host_dir(state) / "samples").iterdir())) == 64
    assert peak < 8 << 20, f"peak {peak >> 20} MiB while fetching 64 MiB"


def test_missing_files_are_named_a_directory_at_a_time():
    assert missing_text(["run.json", "samples/a", "samples/b", "report.html"]) == \
        "run.json, samples/ (2 files), report.html"
    assert missing_text([]) == "nothing"
    assert missing_text([f"f{i}" for i in range(9)], most=3) == "f0, f1, f2, and 6 more"


def test_env_is_the_same_list_repeated_or_comma_separated():
    from vbench.cli import build_parser

    def env(*argv: str) -> str | None:
        return RunRequest.from_namespace(build_parser().parse_args(["run", *argv])).env

    assert env("--env", "docker:volume", "--env", "docker:tmpfs") == "docker:volume,docker:tmpfs"
    assert env("--env", "native,vm:virtio", "--env=docker:bind") == "native,vm:virtio,docker:bind"
    assert env("--env", "native") == "native" and env() is None


def test_fetching_a_run_the_host_does_not_have_is_the_plain_failure(tmp_path):
    """No run there (its vbench stopped before it began one): not a fetch broken half-way, so the fleet falls back
    to what the host's vbench said."""
    fleet, state = local_fleet(tmp_path)
    with pytest.raises(VBenchError) as failed:
        fleet.fetch(state, str(tmp_path / "nothing"), "fleet-x-local")
    assert not isinstance(failed.value, FetchBroken)
    assert str(failed.value) == f"local: fetching its run failed: no run fleet-x-local in {tmp_path / 'nothing'}"


def test_the_fleet_reports_hosts_table_reads_with_labels_and_units(tmp_path):
    """Two hosts, one with the recorded run and one that never ran: labels for the fingerprint's keys, its memory
    in GiB, a count of hosts that agrees with its noun."""
    from vbench.report.fleet import build_fleet_report

    hosts = [{"host": "a", "label": "a", "status": "complete", "reason": None, "trials": 60, "build": "b1"},
             {"host": "b", "label": "b", "status": "failed", "reason": "unreachable", "trials": 0, "build": "b1"}]
    (tmp_path / "fleet.json").write_text(json.dumps({"fleet_version": 2, "fleet_id": "fleet-x", "hosts": hosts,
                                                     "vbench_version": "0.1.0", "build": "b1", "status": "failed",
                                                     "machines": [["a"], ["b"]]}))
    shutil.copytree(Path(__file__).parent / "data" / "runs" / "small", tmp_path / "hosts" / "a")
    html = build_fleet_report(tmp_path).read_text()
    assert "Fleet fleet-x: 1 host side by side" in html
    head = html[html.index("<h2>The hosts</h2>"):html.index("<h2>Verdicts per host</h2>")]
    assert "<th>CPU (logical)</th><th>Memory</th>" in head and "cpu_logical" not in head
    assert "<td>Intel(R) Xeon(R) Processor</td><td>2</td><td>23.5 GiB</td>" in head and "<td>yes</td>" in head
    assert "<td>b</td><td>failed: unreachable</td>" in head
