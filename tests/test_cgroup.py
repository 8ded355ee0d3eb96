"""cgroup readers on captured v1 files (a real container here) and v2 files, and the Engine API cross-check."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import DATA
from vbench.collectors.cgroup import CgroupCollector, delta, read_cgroup, read_v1, read_v2, reset_peak
from vbench.envs.docker import cgroup_paths, engine_counters
from vbench.model import Handle

V1 = DATA / "cgroup" / "v1"
V2 = DATA / "cgroup" / "v2"


def v1_paths(root=V1) -> dict[str, str]:
    return {c: str(root / c) for c in ("cpuacct", "cpu", "memory", "blkio")}


def test_v1_counters():
    got = read_v1(v1_paths())
    assert got["cpu_usage_s"] == pytest.approx(1.959799153)
    assert got["cpu_user_s"] == 0.5 and got["cpu_system_s"] == 1.45
    assert got["nr_throttled"] == 0 and got["throttled_s"] == 0
    assert got["memory_bytes"] == 2306048 and got["memory_peak_bytes"] == 27000832
    # Read/Write lines only: Sync, Async, Discard and Total would double count
    assert got["io_read_bytes"] == 101482496 and got["io_write_bytes"] == 128864256
    assert got["io_read_ops"] == 24775 and got["io_write_ops"] == 21591


def test_v2_counters():
    got = read_v2(str(V2))
    assert got["cpu_usage_s"] == pytest.approx(1.959799) and got["cpu_user_s"] == 0.5
    assert got["nr_throttled"] == 3 and got["throttled_s"] == 0.25
    assert got["memory_bytes"] == 2306048 and got["memory_peak_bytes"] == 27000832
    assert got["io_read_bytes"] == 101482496 + 4096 and got["io_write_ops"] == 21591
    assert read_cgroup({"": str(V2)}) == got


def test_delta_keeps_counters_not_gauges():
    before = read_v1(v1_paths())
    after = {**before, "io_write_bytes": before["io_write_bytes"] + 4096, "memory_bytes": 1}
    assert delta(after, before)["io_write_bytes"] == 4096 and "memory_bytes" not in delta(after, before)


def test_paths_come_from_the_process_cgroup_file(tmp_path):
    root = tmp_path / "cgroup"
    for controller in ("cpuacct", "cpu", "memory", "blkio", "unified"):
        (root / controller).mkdir(parents=True)
    paths = cgroup_paths(4242, proc_root=str(DATA / "cgroup" / "proc"), cgroup_root=str(root))
    cid = "10dfbe17af10cd4c7bcfa9d32aec4b8cfea765fc178dc4d935b919f24ec4c072"
    assert paths == {c: f"{root}/{c}/docker/{cid}" for c in ("cpuacct", "cpu", "memory", "blkio")}


def test_pure_v2_paths(tmp_path):
    (tmp_path / "proc" / "9").mkdir(parents=True)
    (tmp_path / "proc" / "9" / "cgroup").write_text("0::/system.slice/docker-abc.scope\n")
    (tmp_path / "cg").mkdir()
    (tmp_path / "cg" / "cgroup.controllers").write_text("cpu io memory\n")
    paths = cgroup_paths(9, proc_root=str(tmp_path / "proc"), cgroup_root=str(tmp_path / "cg"))
    assert paths == {"": f"{tmp_path}/cg/system.slice/docker-abc.scope"}


def test_collector_on_a_copied_tree(tmp_path):
    tree = tmp_path / "v1"
    shutil.copytree(V1, tree)
    collector = CgroupCollector(interval=0.01)
    collector.start()
    collector.attach(Handle(pid=1, cgroups=v1_paths(tree)))
    (tree / "blkio" / "blkio.throttle.io_service_bytes").write_text("254:0 Read 101482496\n254:0 Write 128868352\n")
    summary = collector.stop()
    assert summary["version"] == 1 and summary["io_write_bytes"] == 4096 and summary["io_read_bytes"] == 0
    assert summary["memory_peak_is_trial"]  # the copied peak file is writable, so it was reset
    assert (tree / "memory" / "memory.max_usage_in_bytes").read_text().strip() == "0"


def test_collector_without_a_cgroup_reports_nothing():
    collector = CgroupCollector(interval=0.01)
    collector.start()
    collector.attach(Handle(pid=1))
    assert collector.stop() is None


def test_reset_peak_fails_softly(tmp_path):
    assert not reset_peak({"memory": str(tmp_path / "missing")})


def test_engine_counters_from_captured_stats():
    stats = json.loads((DATA / "cgroup" / "engine_stats.json").read_text())
    got = engine_counters(stats)
    assert got == {"io_read_bytes": 101482496, "io_write_bytes": 128864256, "cpu_usage_s": 1.959799153}
    assert engine_counters({}) == {"io_read_bytes": 0, "io_write_bytes": 0, "cpu_usage_s": 0.0}
