"""A fleet's scheduling and options, without ssh: machines run at once, one machine's hosts one after the other;
what each host's vbench is asked to do."""
from __future__ import annotations

import json
import threading
import time

import pytest

from vbench import fleet as fleet_module
from vbench.fleet import Fleet, run_groups
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
            "--setup", "--results", "out", "--env", "native,docker:volume"]
    request = RunRequest.from_namespace(build_parser().parse_args(["run", *argv]))
    assert request.to_argv() == ["--suite", "/home/me/mine.toml", "--quick", "--env", "native,docker:volume"]
    assert request.with_suite("/remote/suites/x.toml").to_argv() == ["--suite", "/remote/suites/x.toml", "--quick",
                                                                     "--env", "native,docker:volume"]
    short = RunRequest.from_namespace(build_parser().parse_args(["run", "--suite=cpu", "--results=r"]))
    assert short.with_suite("/x.toml").to_argv() == ["--suite", "/x.toml"]


def test_a_request_round_trips_through_the_command_line():
    from vbench.cli import build_parser

    argv = ["--suite", "io", "--env", "native,vm:virtio", "--rounds", "7", "--ci-target", "2.5", "--seed", "0",
            "--no-aa", "--scratch", "/srv/s", "--interval", "0.5", "--cpus", "1.5", "--blkio-accounting",
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
