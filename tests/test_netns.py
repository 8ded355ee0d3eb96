"""The tap network's namespace: built with its bridge and tap, gone without a trace on failure, and removed by
the reaper when the run that listed it died (needs root, as vm:tap does; CI runs as root)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from vbench import reaper
from vbench.envs import netns
from vbench.errors import VBenchError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def links(name: str) -> dict[str, str]:
    out = subprocess.run(["ip", "-n", name, "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0]: line for line in out.splitlines()}


def test_bridge_namespace_has_the_tap_on_the_bridge():
    name = netns.new_name()
    try:
        netns.create_bridge_netns(name)
        found = links(name)
        assert {"lo", netns.BRIDGE, netns.TAP} <= set(found)
        assert f"master {netns.BRIDGE}" in found[netns.TAP]
        addr = subprocess.run(["ip", "-n", name, "-o", "-4", "addr", "show", netns.BRIDGE], capture_output=True,
                              text=True, check=True).stdout
        assert f"{netns.HOST_ADDRESS}/{netns.PREFIX}" in addr
        assert netns.BRIDGE not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    finally:
        assert netns.delete_netns(name)
    assert not os.path.exists(f"/run/netns/{name}") and not netns.delete_netns(name)


def test_a_failed_setup_leaves_no_namespace(monkeypatch):
    name = netns.new_name()
    monkeypatch.setattr(netns, "TAP", "a-name-far-too-long-for-linux")  # IFNAMSIZ is 16
    with pytest.raises(VBenchError, match="could not set up the tap network"):
        netns.create_bridge_netns(name)
    assert not os.path.exists(f"/run/netns/{name}")


def test_reaper_removes_the_namespace_of_a_dead_run(tmp_path, monkeypatch):
    monkeypatch.setenv("VBENCH_STATE", str(tmp_path))
    monkeypatch.setattr(reaper, "_reap_docker", lambda live, say: [])  # only the ledger's own items here
    name = netns.new_name()
    netns.create_bridge_netns(name)
    try:
        dead = {"pid": 1, "create_time": 0, "boot_id": "a host boot long gone"}
        record = {"run_id": "r", "owner": dead, "dirs": [], "processes": [], "netns": [name], "docker": 0}
        (tmp_path / "owners").mkdir()
        (tmp_path / "owners" / "r.1.json").write_text(json.dumps(record))
        assert reaper.reap() == [f"network namespace {name}"]
        assert not os.path.exists(f"/run/netns/{name}")
        assert list((tmp_path / "owners").iterdir()) == []
    finally:
        netns.delete_netns(name)


def test_ledger_lists_a_namespace_until_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("VBENCH_STATE", str(tmp_path))
    ledger = reaper.Ledger("r")
    ledger.add_netns("vbench-1-abc")
    assert json.loads(ledger.path.read_text())["netns"] == ["vbench-1-abc"]
    ledger.forget_netns("vbench-1-abc")
    assert not ledger.path.exists()
