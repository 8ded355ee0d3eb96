"""The psutil collector on real processes, and its CPU split and disturbance figures on fixed readings."""
from __future__ import annotations

import subprocess
import sys
from collections import namedtuple

from vbench.collectors.process import ProcessCollector, _cpu_split, disturbance
from vbench.model import Handle


def test_collects_a_process_tree_including_exited_children():
    collector = ProcessCollector(interval=0.02)
    collector.start()
    code = ("import subprocess, sys, time\n"
            "subprocess.run([sys.executable, '-c', 'x = sum(range(3_000_000))'])\n"
            "t = time.time()\nwhile time.time() - t < 0.3: pass\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    collector.attach(Handle(pid=proc.pid))
    proc.wait()
    summary = collector.stop()
    assert summary["samples"] >= 5
    assert summary["cpu_user_s"] > 0.1  # the busy loop, at least
    assert summary["rss_max_bytes"] > 1 << 20
    assert max(s.get("processes", 0) for s in collector.series) >= 1
    assert set(summary["host_cpu_pct"]) >= {"user", "system", "iowait", "steal", "idle"}
    assert "disk_read_bytes" in summary


def test_without_a_process_only_host_figures():
    collector = ProcessCollector(interval=0.01)
    collector.start()
    summary = collector.stop()
    assert summary["samples"] >= 1 and summary["cpu_user_s"] is None


Times = namedtuple("Times", "user nice system idle iowait irq softirq steal")


def test_cpu_split_is_percent_of_the_interval():
    before = Times(10, 0, 5, 100, 1, 0, 0, 0)
    after = Times(20, 0, 10, 130, 6, 0, 0, 5)
    split = _cpu_split(before, after)
    assert split == {"user": 18.18, "system": 9.09, "iowait": 9.09, "steal": 9.09, "idle": 54.55}
    assert _cpu_split(after, after)["idle"] == 0.0


Full = namedtuple("Full", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_disturbance_is_the_cpu_outside_the_tree_and_vbench():
    before = Full(100, 0, 50, 1000, 0, 0, 0, 0, 0, 0)
    # 4 s of wall on 2 CPUs: 8 CPU-s; busy 4 + 1 + 0.5 irq/softirq = 5.5; guest time is already inside user
    after = Full(104, 0, 51, 1002, 0, 0.25, 0.25, 0.5, 3, 0)
    figures = disturbance(before, after, tree_cpu_s=3.5, own_cpu_s=0.5, wall_s=4.0)
    assert figures == {"others_cpu_s": 1.5, "others_cores": 0.375, "vbench_cpu_s": 0.5, "wall_s": 4.0,
                       "steal_pct": 6.25}
    assert disturbance(before, after, tree_cpu_s=None, own_cpu_s=0.5, wall_s=4.0)["others_cores"] is None
    # the tree's counters can run ahead of the host's (sampled at another moment): never a negative share
    assert disturbance(before, after, tree_cpu_s=9.0, own_cpu_s=0.0, wall_s=4.0)["others_cores"] == 0.0
    assert disturbance(after, after, tree_cpu_s=0.0, own_cpu_s=0.0, wall_s=0.0)["steal_pct"] == 0.0


def test_a_process_outside_the_tree_shows_as_disturbance():
    """A spinner the collector does not watch takes CPU the trial's tree did not: it is counted as others'."""
    spin = "import time\nt = time.time()\nwhile time.time() - t < 1.2: pass\n"
    spinner = subprocess.Popen([sys.executable, "-c", spin])
    collector = ProcessCollector(interval=0.02)
    collector.start()
    proc = subprocess.Popen([sys.executable, "-c", spin.replace("1.2", "0.8")])
    collector.attach(Handle(pid=proc.pid))
    proc.wait()
    summary = collector.stop()
    spinner.wait()
    assert summary["disturbance"]["others_cores"] > 0.3  # the spinner ran the whole trial on its own CPU
    assert summary["disturbance"]["vbench_cpu_s"] >= 0


def test_descendants_walk_the_children_files(tmp_path):
    import os
    from types import SimpleNamespace

    from vbench.collectors.process import descendants

    tree = {100: "101 102", 101: "103", 102: "", 103: "", os.getpid(): ""}
    for pid, children in tree.items():
        task = tmp_path / str(pid) / "task" / str(pid)
        task.mkdir(parents=True)
        (task / "children").write_text(children)
    assert sorted(descendants(SimpleNamespace(pid=100), proc_root=str(tmp_path))) == [100, 101, 102, 103]
    assert descendants(SimpleNamespace(pid=999), proc_root=str(tmp_path)) == [999]  # gone: just itself
