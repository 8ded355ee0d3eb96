"""A fleet's scheduling and options, without ssh: machines run at once, one machine's hosts one after the other;
what each host's vbench is asked to do."""
from __future__ import annotations

import threading
import time

from vbench import fleet as fleet_module
from vbench.fleet import Fleet, forwarded_options, run_groups
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
    assert [s.status for s in fleet.states] == ["failed: OSError: the disk is full", "complete"]
    assert "the disk is full" in fleet_module.failures(tmp_path / "f")


def test_each_host_gets_the_runs_own_options_and_its_copy_of_the_suite():
    argv = ["--host", "a", "--suite", "/home/me/mine.toml", "--quick", "--host=b", "--ssh-config", "cfg",
            "--setup", "--results", "out", "--env", "native,docker:volume"]
    assert forwarded_options(argv) == ["--suite", "/home/me/mine.toml", "--quick", "--env", "native,docker:volume"]
    assert forwarded_options(argv, "/remote/suites/x.toml") == ["--suite", "/remote/suites/x.toml", "--quick",
                                                                "--env", "native,docker:volume"]
    assert forwarded_options(["--suite=cpu", "--results=r"], "/x.toml") == ["--suite", "/x.toml"]
