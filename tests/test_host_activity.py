"""What the rest of the host did during a trial (vbench.collectors.host): pure figures on fixed readings, the
real counters under real disturbers, and the reasons vbench.validity gives the host-disturbed flag."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from conftest import ROOT, VBENCH
from vbench.collectors.host import (HostActivity, ProcessReading, counted_interfaces, descendants_of, others,
                                    traffic)
from vbench.collectors.process import ProcessCollector
from vbench.store import load_trials
from vbench.validity import (NET_LIMIT_BYTES_S, OTHERS_IO_LIMIT_BYTES_S, disturbance_flag, disturbance_reasons,
                             disturbance_resources, resource_counts)

# A disturber writes a MiB to disk and fsyncs it, over and over; another streams over a loopback TCP socket.
DISK_WRITER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
end = time.monotonic() + float(sys.argv[2])
print("go", flush=True)
while time.monotonic() < end:
    os.pwrite(fd, b"x" * (1 << 20), 0)
    os.fsync(fd)
"""
LOOPBACK_STREAMER = """
import socket, sys, time
server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname())
peer, _ = server.accept()
end = time.monotonic() + float(sys.argv[1])
print("go", flush=True)
chunk = b"x" * (1 << 16)
while time.monotonic() < end:
    client.sendall(chunk)
    got = 0
    while got < len(chunk):
        got += len(peer.recv(1 << 16))
"""


def reading(cpu: float, io: int | None, created: float = 1.0, kernel: bool = False, service: bool = False,
            ppid: int = 1) -> ProcessReading:
    return ProcessReading(created, cpu, io, kernel=kernel, service=service, ppid=ppid)


def test_others_counts_the_processes_outside_the_trial_only():
    before = {10: reading(1.0, 100), 11: reading(5.0, 1000), 12: reading(0.0, 0, kernel=True),
              13: reading(2.0, 0, service=True), 14: reading(1.0, 50), 15: reading(3.0, 7)}
    after = {10: reading(1.5, 300),  # another process: its change counts
             11: reading(9.0, 9000),  # the trial's own
             12: reading(4.0, 10 ** 9, kernel=True),  # a kernel thread: the block layer's work is anyone's
             13: reading(3.0, 10 ** 9, service=True),  # dockerd: the environment's own work
             16: reading(0.25, 40),  # started during the trial: all of it counts
             15: reading(0.5, 5, created=2.0)}  # the PID was reused: a new process, all of it counts
    figures = others(before, after, own={11})  # 14 ended in between: nothing
    assert figures == {"others_user_cpu_s": pytest.approx(0.5 + 0.25 + 0.5), "others_io_bytes": 200 + 40 + 5,
                       "others_io_hidden": 0}


def test_a_child_reaped_in_the_window_counts_only_what_it_did_in_the_window():
    """A shell that reaps a job it started long before: the job's whole life lands in the shell's counters at
    once (measured: a setup script's pip, 55 CPU-seconds in a 1 s window); only its last part is the window's."""
    before = {10: reading(1.0, 100), 11: reading(50.0, 9000, ppid=10), 12: reading(0.5, 0, ppid=10)}
    # 11 ran 2 s and wrote 300 bytes more, 12 0.25 s and 7 bytes more, and the shell reaped both
    after = {10: reading(1.0 + (50.0 + 2.0) + (0.5 + 0.25), 100 + (9000 + 300) + (0 + 7))}
    assert others(before, after, own=set()) == {"others_user_cpu_s": pytest.approx(2.25), "others_io_bytes": 307,
                                                "others_io_hidden": 0}


def test_a_process_that_hides_its_io_is_counted_as_hidden_not_as_zero_bytes():
    hiding = others({10: reading(1.0, None), 11: reading(0, 5)}, {10: reading(2.0, None), 11: reading(0, 9)}, set())
    assert hiding == {"others_user_cpu_s": 1.0, "others_io_bytes": 4, "others_io_hidden": 1}
    assert others({10: reading(1.0, None)}, {10: reading(2.0, None)}, own={10})["others_io_hidden"] == 0


def test_descendants_are_the_whole_subtree():
    readings = {1: reading(0, 0, ppid=0), 5: reading(0, 0, ppid=1), 6: reading(0, 0, ppid=5),
                7: reading(0, 0, ppid=6), 8: reading(0, 0, ppid=1)}
    assert descendants_of(5, readings) == {5, 6, 7}
    assert descendants_of(99, readings) == {99}


def test_a_network_workload_counts_only_the_interfaces_its_own_traffic_cannot_cross():
    virtual = {"lo", "docker0", "veth1a2b", "tap0"}.__contains__
    names = ["lo", "eth0", "docker0", "veth1a2b", "tap0", "ens3"]
    assert counted_interfaces(names, "net.tcp_stream", virtual) == ["ens3", "eth0"]
    assert counted_interfaces(names, "io.fio", virtual) == sorted(names)  # it sends nothing: all of it is others'
    before = {"eth0": (100, 200), "lo": (0, 0), "gone": (5, 5)}
    after = {"eth0": (150, 260), "lo": (10 ** 9, 10 ** 9), "new": (7, 7)}
    assert traffic(before, after, ["eth0", "gone", "new"]) == 110


def test_reasons_name_each_resource_over_its_limit_and_how_much():
    quiet = {"others_cores": 0.01, "others_user_cores": 0.0, "steal_pct": 0.1, "others_io_bytes_s": 4096,
             "net_bytes_s": 0, "net_interfaces": "eth0,lo"}
    assert disturbance_reasons("io.fio", quiet) == [] and disturbance_flag("io.fio", quiet) is None
    loud = {**quiet, "others_io_bytes_s": 45 * 2 ** 20, "net_bytes_s": 3 * 2 ** 20, "steal_pct": 7.5}
    reasons = disturbance_reasons("io.fio", loud)
    assert reasons == ["steal: the hypervisor took 7.5% of the CPU time (limit 5%)",
                       "disk: other processes read or dirtied 45.0 MiB/s (limit 1 MiB/s)",
                       "network: 3.0 MiB/s on eth0,lo (limit 1 MiB/s)"]
    assert disturbance_flag("io.fio", loud) == "host-disturbed"
    assert disturbance_resources(reasons) == "steal,disk,network"
    assert resource_counts(["disk", "disk,cpu", "", None]) == "disk 2, cpu 1"
    # cpu and mem trials judge the host's whole busy time; the others the user-space processes outside them
    assert disturbance_reasons("cpu.pyloop", {**quiet, "others_cores": 0.4}) == [
        "cpu: other processes took 0.40 of a CPU (limit 0.25)"]
    assert disturbance_reasons("io.fio", {**quiet, "others_cores": 0.9}) == []  # kernel workers doing its I/O
    assert disturbance_reasons("io.fio", {**quiet, "others_user_cores": 0.5}) == [
        "cpu: other user-space processes took 0.50 of a CPU (limit 0.25)"]
    assert disturbance_reasons("net.tcp_rr", {"others_user_cores": None, "others_io_bytes_s": None}) == []
    assert disturbance_reasons("io.fio", None) == []


def start(script: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
    return proc


def test_a_writer_outside_the_trial_is_disk_disturbance_and_inside_it_is_not(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # vbench's stand-in
    writer = start(DISK_WRITER, str(tmp_path / "noise"), "1.5")
    try:
        outside, inside = HostActivity(root=bystander.pid), HostActivity(root=bystander.pid)
        outside.start()
        inside.start()
        time.sleep(1.0)
        seen = outside.stop(own=set(), workload="cpu.pyloop")
        own = inside.stop(own={writer.pid}, workload="cpu.pyloop")
    finally:
        writer.wait(timeout=30)
        bystander.kill()
        bystander.wait()
    assert seen["others_io_bytes_s"] > 8 * OTHERS_IO_LIMIT_BYTES_S, seen  # a MiB per fsync, hundreds a second
    assert "disk" in disturbance_resources(disturbance_reasons("cpu.pyloop", seen))
    assert own["others_io_bytes_s"] < OTHERS_IO_LIMIT_BYTES_S, own  # the writer was the trial's own


def test_vbench_and_its_children_are_not_others(tmp_path):
    writer = start(DISK_WRITER, str(tmp_path / "noise"), "1.5")  # a child of this process: vbench's side
    try:
        activity = HostActivity()
        activity.start()
        time.sleep(1.0)
        figures = activity.stop(own=set(), workload="io.fio")
    finally:
        writer.wait(timeout=30)
    assert figures["others_io_bytes_s"] < OTHERS_IO_LIMIT_BYTES_S, figures


def test_loopback_traffic_disturbs_an_io_trial_but_not_a_network_one():
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    streamer = start(LOOPBACK_STREAMER, "1.5")
    try:
        io, net = HostActivity(root=bystander.pid), HostActivity(root=bystander.pid)
        io.start()
        net.start()
        time.sleep(1.0)
        for_io, for_net = io.stop(set(), "io.fio"), net.stop(set(), "net.tcp_stream")
    finally:
        streamer.wait(timeout=30)
        bystander.kill()
        bystander.wait()
    assert for_io["net_bytes_s"] > 8 * NET_LIMIT_BYTES_S and "lo" in for_io["net_interfaces"].split(","), for_io
    assert "network" in disturbance_resources(disturbance_reasons("io.fio", for_io))
    assert "lo" not in for_net["net_interfaces"].split(",")  # a network trial's own traffic is on the loopback
    assert for_net["net_bytes_s"] < NET_LIMIT_BYTES_S, for_net


def test_the_psutil_collector_records_the_rest_of_the_host(tmp_path):
    collector = ProcessCollector(0.05, workload="io.fio")
    collector.start()
    time.sleep(0.3)
    figures = collector.stop()["disturbance"]
    for key in ("others_cores", "others_user_cores", "others_io_bytes_s", "net_bytes_s", "net_interfaces",
                "steal_pct"):
        assert key in figures, figures
    blockwise = ProcessCollector(0.05, host=False)  # in a block, the caller reads the host once for every side
    blockwise.start()
    assert "net_bytes_s" not in blockwise.stop()["disturbance"]


SUITE = ('name = "disturbed"\nenvironments = ["native"]\n[plan]\nwarmup_rounds = 0\nmin_rounds = 6\n'
         'max_rounds = 6\n[[workload]]\nuse = "cpu.pyloop"\nparams = { seconds = 0.2 }\n')


def test_a_run_beside_a_disk_writer_flags_its_trials_and_says_why(tmp_path):
    """The command end to end: every trial of a run measured while another process wrote to disk is
    host-disturbed for "disk", with how much in its record, and the summary counts them by resource."""
    (tmp_path / "suite.toml").write_text(SUITE)
    writer = start(DISK_WRITER, str(tmp_path / "noise"), "600")
    try:
        run = subprocess.run([*VBENCH, "run", "--suite", str(tmp_path / "suite.toml"), "--output",
                              str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch"), "--no-aa",
                              "--run-id", "beside-a-writer"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        writer.kill()
        writer.wait()
    assert run.returncode == 0, run.stderr[-2000:]
    trials = [json.loads(line) for line in (tmp_path / "res" / "beside-a-writer" / "trials.jsonl").open()]
    assert len(trials) == 6
    for trial in trials:
        figures = trial["collectors"]["psutil"]["disturbance"]
        assert "host-disturbed" in trial["flags"], figures
        assert any(r.startswith("disk: other processes read or dirtied") for r in figures["reasons"]), figures
    assert re.search(r"host-disturbed 6 \([^)]*disk 6", run.stdout), run.stdout[-1500:]
    frame = load_trials(tmp_path / "res" / "beside-a-writer")  # the tidy table names the resource
    assert set(frame["disturbed_by"].str.split(",").explode()) >= {"disk"}
