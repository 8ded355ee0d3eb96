"""The host-side runner: trial records from captured runner output, and a real native run end to end."""
from __future__ import annotations

import json
import os

import pytest

import vbench
from vbench.model import Case, EnvSpec, Execution
from vbench.run.lifecycle import resolve_environments
from vbench.run.record import Measurement, own_read_bytes, to_trial
from vbench.validity import disturbance_flag, page_cache_flag
from vbench.store import iter_records, read_run, to_record
from vbench.suite import load_suite
from conftest import DATA

CASE = Case("rand-read", "io.fio", {"rw": "randread"}, EnvSpec("native"))

def trial_of(case, execution, collected, seq):
    """The trial a whole execution of ``case`` in round 1 makes (vbench.run.record)."""
    return to_trial(Measurement.of_execution(case, 1, "t", execution, collected), seq)



def captured(name: str) -> str:
    return (DATA / "runner" / name).read_text()


def test_ok_record_joins_runner_and_host_views():
    execution = Execution(captured("fio_randread.jsonl"), "", 0, 1.25)
    record = to_record(trial_of(CASE, execution, {"psutil": {"read_bytes": 10**9}}, 4))
    result = json.loads(captured("fio_randread.jsonl"))
    assert record["status"] == "ok" and record["error"] is None
    assert record["metrics"] == result["metrics"] and record["primary"] == "read_iops"
    assert record["guest_duration_s"] == result["duration_s"] and record["host_wall_s"] == 1.25
    assert record["info"]["io_mode"] == "direct" and "page-cache-read" not in record["flags"]


def test_read_served_from_page_cache_is_flagged():
    execution = Execution(captured("fio_randread.jsonl"), "", 0, 1.25)
    record = to_record(trial_of(CASE, execution, {"psutil": {"read_bytes": 0}}, 4))
    assert "page-cache-read" in record["flags"]


def test_page_cache_check_counts_the_trials_own_reads_not_the_hosts():
    execution = Execution(captured("fio_randread.jsonl"), "", 0, 1.25)
    # another process read 10 GB from the disk meanwhile: the host's counter must not vouch for the trial
    busy_host = {"psutil": {"read_bytes": 0, "disk_read_bytes": 10**10}}
    assert "page-cache-read" in trial_of(CASE, execution, busy_host, 4).flags
    unknown = {"psutil": {"read_bytes": None, "disk_read_bytes": 10**10}}  # no /proc/<pid>/io
    assert "page-cache-unknown" in trial_of(CASE, execution, unknown, 4).flags
    assert own_read_bytes({"psutil": {"read_bytes": 10}, "helpers": {"read_bytes": 5}}) == 15  # virtiofsd's
    assert own_read_bytes({"psutil": {"read_bytes": 10}, "helpers": {"read_bytes": None}}) is None
    assert own_read_bytes({}) is None


def test_disturbance_flag_judges_every_kind_by_the_cpu_measure_that_fits_it():
    busy = {"others_cores": 0.6, "steal_pct": 0.0}
    assert disturbance_flag("cpu.pyloop", busy) == "host-disturbed"
    assert disturbance_flag("mem.bandwidth", {"others_cores": 0.01, "steal_pct": 12.0}) == "host-disturbed"
    assert disturbance_flag("cpu.pyloop", {"others_cores": 0.05, "steal_pct": 1.0}) is None
    assert disturbance_flag("cpu.pyloop", {"others_cores": None, "steal_pct": 0.0}) is None  # tree not watched
    assert disturbance_flag("io.fio", busy) is None  # kernel workers and daemons do I/O work outside the tree
    assert disturbance_flag("io.fio", {**busy, "others_user_cores": 0.6}) == "host-disturbed"  # a process did
    assert disturbance_flag("startup.container", {"steal_pct": 9.0}) == "host-disturbed"
    assert disturbance_flag("cpu.pyloop", None) is None


def test_the_engine_apis_and_the_cgroups_block_io_are_checked_against_each_other():
    from vbench.validity import counters_flag

    mib = 1 << 20
    assert counters_flag({"cgroup": {"io_write_bytes": 64 * mib}, "engine": {"io_write_bytes": 64 * mib}}) is None
    assert counters_flag({"cgroup": {"io_write_bytes": 64 * mib}, "engine": {"io_write_bytes": 80 * mib}}) == \
        "io-counters-disagree"
    assert counters_flag({"cgroup": {"io_read_bytes": 0}, "engine": {"io_read_bytes": mib // 2}}) is None  # noise
    assert counters_flag({"cgroup": {"io_read_bytes": None}, "engine": {"io_read_bytes": 80 * mib}}) is None
    assert counters_flag({"psutil": {}}) is None


def test_page_cache_flag_thresholds():
    assert page_cache_flag({"read_bytes": 1000}, 950) is None
    assert page_cache_flag({"read_bytes": 1000}, 100) == "page-cache-read"
    assert page_cache_flag({"read_bytes": 0}, 0) is None  # a write job
    assert page_cache_flag({"read_bytes": 1000}, None) == "page-cache-unknown"  # no counter: not "ok"
    assert page_cache_flag({"read_bytes": 0}, None) is None


def test_failed_and_timed_out_records_keep_the_reason():
    failed = to_record(trial_of(CASE, Execution(captured("failed.jsonl"), "Traceback...", 1, 0.1), {}, 0))
    assert failed["status"] == "failed" and failed["error"].startswith("ValueError: rw must be one of")
    assert failed["metrics"] == {}
    crashed = to_record(trial_of(CASE, Execution("", "Segmentation fault\n", -11, 0.1), {}, 0))
    assert crashed["status"] == "failed" and "Segmentation fault" in crashed["error"]
    hung = to_record(trial_of(CASE, Execution("", "", -9, 60.0, timed_out=True), {}, 0))
    assert hung["status"] == "timeout" and "timeout" in hung["error"]


def test_defaults_skip_unavailable_and_baseline_comes_first():
    suite = load_suite("cpu", quick=True)
    specs, skipped = resolve_environments(suite, None)
    assert specs[0] == EnvSpec("native") and skipped == {}


def test_native_run_end_to_end(tiny_run):
    meta = read_run(tiny_run)
    assert meta["status"] == "complete" and meta["seed"] == 7
    assert meta["rounds"]["done"] == 2 and "cap" in meta["rounds"]["stop_reason"]
    assert meta["host"]["cpu_logical"] >= 1 and meta["host"]["scratch_fs"]
    assert meta["lifecycles"]["native"]["provision_s"] >= 0
    trials = list(iter_records(tiny_run))
    assert len(trials) == 2 * (1 + 2)  # two cases, one warmup and two measured rounds
    assert sum(t["warmup"] for t in trials) == 2
    assert all(t["status"] == "ok" for t in trials), [t["error"] for t in trials]
    for t in trials:
        assert t["collectors"]["psutil"]["samples"] >= 1
        assert t["guest"]["rusage"]["self"]["utime"] > 0
        assert (tiny_run / t["samples"]).is_file()
    frame = vbench.load(tiny_run)
    assert set(frame["case"]) == {"sha", "loop"} and (frame["value"] > 0).all()


def test_scratch_is_removed_after_the_run(tiny_run):
    scratch = tiny_run.parent.parent / "scratch"
    assert list(scratch.iterdir()) == []


def test_in_a_block_the_other_sides_workers_are_not_a_disturbance():
    from vbench.run.sliced import block_disturbance

    def summary(tree, others):
        return {"cpu_user_s": tree, "cpu_system_s": 0.0,
                "disturbance": {"others_cpu_s": others, "others_cores": others / 2.0, "wall_s": 2.0}}

    # two sides took turns for 2 s: each saw the other's 0.9 s as "others", plus 0.2 s of a real intruder
    block = block_disturbance({"native": summary(0.9, 1.1), "docker:volume": summary(0.9, 1.1)})
    assert [s["disturbance"]["others_cpu_s"] for s in block.values()] == [pytest.approx(0.2)] * 2
    assert block["native"]["disturbance"]["others_cores"] == pytest.approx(0.1)


CACHED_SUITE = """
name = "cached"
description = "a read the page cache serves and a direct one, while the host's disk is busy"
environments = ["native"]

[plan]
warmup_rounds = 0
min_rounds = 2
max_rounds = 2
timeout_s = 120

[[workload]]
# a 1 MiB file read over and over for 50 ms (fio invalidates the cache at each pass; the Python loop does not): a
# few MiB requested, far less than the neighbour reads from the disk meanwhile
name = "cached-read"
use = "io.fio"
params = { rw = "read", bs = "512", size = "1M", runtime = 0.05, direct = "off", engine = "python" }

[[workload]]
name = "direct-read"
use = "io.fio"
params = { rw = "read", bs = "1m", size = "64M", runtime = 1.0, direct = "on" }
"""


def test_page_cache_check_is_right_while_another_process_works_the_same_disk(tmp_path):
    """A concurrent direct reader and writer on the trials' own disk moves the host's disk counters by more than
    the cached trial reads: the check of the trial's own reads still flags the cached read, and not the
    direct one."""
    import shutil
    import signal
    import subprocess
    import tomllib

    from vbench.run.lifecycle import run_suite
    from vbench.run.options import RunOptions
    from vbench.suite import parse_suite
    from workloads.io._direct import probe_direct

    if shutil.which("fio") is None or shutil.which("dd") is None:
        pytest.skip("fio and dd are needed (setup.sh installs fio)")
    if not probe_direct(str(tmp_path))[0]:
        pytest.skip(f"O_DIRECT does not work on {tmp_path}'s filesystem, so nothing here can bypass the cache")
    busy = tmp_path / "busy"
    busy.mkdir()
    subprocess.run(["dd", "if=/dev/urandom", f"of={busy}/in.dat", "bs=4M", "count=64", "status=none"], check=True)
    loop = (f"while :; do dd if={busy}/in.dat of=/dev/null bs=4M iflag=direct status=none; "
            f"dd if=/dev/zero of={busy}/out.dat bs=4M count=16 oflag=direct status=none; done")
    neighbour = subprocess.Popen(["sh", "-c", loop], start_new_session=True)
    try:
        suite = parse_suite(tomllib.loads(CACHED_SUITE), "cached.toml")
        options = RunOptions(results_dir=tmp_path / "results", scratch_root=str(tmp_path / "scratch"), seed=3,
                             aa_control=False)
        run = run_suite(suite, ["native"], options)
    finally:
        os.killpg(neighbour.pid, signal.SIGKILL)
        neighbour.wait()
    trials = {(t["case"], t["round"]): t for t in iter_records(run)}
    assert len(trials) == 4 and all(t["status"] == "ok" for t in trials.values())
    for (case, _), t in trials.items():
        psutil_summary = t["collectors"]["psutil"]
        assert psutil_summary["disk_read_bytes"] + psutil_summary["disk_write_bytes"] > 32 << 20  # it was busy
        if case == "cached-read":
            assert "page-cache-read" in t["flags"], psutil_summary
            assert psutil_summary["read_bytes"] < 0.9 * t["info"]["read_bytes"]
            # the host's counter, which the check read before, had more than the trial read: it said "ok"
            assert psutil_summary["disk_read_bytes"] >= 0.9 * t["info"]["read_bytes"]
        else:
            assert "page-cache-read" not in t["flags"] and "page-cache-unknown" not in t["flags"], psutil_summary
            assert t["info"]["io_mode"].startswith("direct; host: a directory on ")


PINNING_SUITE = """
name = "pinning"
description = "one cpu and one io workload, sliced"
environments = ["native"]

[plan]
warmup_rounds = 0
min_rounds = 2
max_rounds = 2
timeout_s = 60

[[workload]]
name = "loop"
use = "cpu.pyloop"
params = { seconds = 0.05 }

[[workload]]
name = "fsync"
use = "io.fsync"
params = { seconds = 0.05 }
"""


def test_a_cpu_blocks_workers_share_one_cpu_by_round_and_an_io_blocks_are_left_unpinned(tmp_path):
    """Pinned to the CPU that did not take the disk's interrupts, I/O sides ran up to 90% apart
    (workloads/io/__init__.py): an I/O workload's block leaves its workers where the kernel puts them."""
    import tomllib
    from vbench.run.lifecycle import run_suite
    from vbench.run.options import RunOptions
    from vbench.suite import parse_suite

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: a block pins nothing")
    suite = parse_suite(tomllib.loads(PINNING_SUITE), "pinning.toml")
    options = RunOptions(results_dir=tmp_path / "results", scratch_root=str(tmp_path / "scratch"), seed=7)
    run = run_suite(suite, ["native"], options)
    trials = [t for t in iter_records(run / "trials.jsonl") if t["status"] == "ok"]
    assert {(t["case"], t["environment"]) for t in trials} >= {("loop", "native"), ("fsync", "native:aa")}
    for trial in trials:
        sliced = trial["info"]["slices"]
        if trial["case"] == "loop":
            assert len(sliced["affinity"]) == 1 and sliced["vbench_affinity"] == [c for c in cpus
                                                                                   if c not in sliced["affinity"]]
        else:
            assert sliced["affinity"] == cpus and sliced["vbench_affinity"] == cpus
