"""The reaper removes only what its own state directory's dead runs made: never the host's, never a live run's."""
from __future__ import annotations

import subprocess

import pytest

from conftest import ROOT, VBENCH
from vbench import reaper

DEAD = "0000-dead-boot/1/1.000"  # a boot id that is not this boot's: that process is gone


def labels(**extra: str) -> dict:
    return {reaper.LABEL: "run-1", reaper.STATE_LABEL: str(reaper.state_dir()), **extra}


def test_an_object_of_a_dead_maker_in_this_state_directory_is_an_orphan():
    assert reaper.is_orphan(labels(**{reaper.OWNER_LABEL: DEAD}), set())


def test_an_object_of_a_live_maker_is_not_an_orphan():
    alive = reaper.ownership_labels()[reaper.OWNER_LABEL]
    assert not reaper.is_orphan(labels(**{reaper.OWNER_LABEL: alive}), set())


def test_another_state_directorys_object_is_never_this_reapers():
    other = {**labels(**{reaper.OWNER_LABEL: DEAD}), reaper.STATE_LABEL: "/var/tmp/someone-else"}
    assert not reaper.is_orphan(other, set())


def test_objects_from_before_the_owner_label_belong_to_the_default_state_directory(monkeypatch):
    legacy = {reaper.LABEL: "run-1"}
    assert not reaper.is_orphan(legacy, set())  # the tests' own state directory is not the default one
    monkeypatch.delenv("VBENCH_STATE")
    assert reaper.is_orphan(legacy, set()) and not reaper.is_orphan(legacy, {"run-1"})


def test_a_malformed_owner_label_counts_as_dead():
    assert reaper.is_orphan(labels(**{reaper.OWNER_LABEL: "not/an/owner"}), set())


@pytest.mark.docker
def test_clean_in_the_tests_state_directory_leaves_the_hosts_objects_alone(tmp_path):
    from conftest import require_environment
    from vbench.envs.docker import docker_client

    require_environment("docker")
    client = docker_client()
    host = {reaper.LABEL: "host-run", reaper.OWNER_LABEL: DEAD, reaper.STATE_LABEL: str(reaper.default_state_dir())}
    ours = {reaper.LABEL: "test-run", reaper.OWNER_LABEL: DEAD, reaper.STATE_LABEL: str(reaper.state_dir())}
    made = [client.volumes.create(name=f"vbench-reaper-test-{i}", labels=found) for i, found in enumerate((host, ours))]
    try:
        done = subprocess.run([*VBENCH, "clean"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        names = {v.name for v in client.volumes.list(filters={"label": reaper.LABEL})}
        assert "vbench-reaper-test-0" in names, "the host's object was reaped by a test"
        assert "vbench-reaper-test-1" not in names and "volume vbench-reaper-test-1" in done.stdout
    finally:
        for volume in made:
            try:
                volume.remove(force=True)
            except Exception:  # already reaped
                pass
        client.close()
