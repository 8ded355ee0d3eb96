"""Disk I/O workloads: parse_fio_json on captured fio output, the O_DIRECT probe, and runs through the runner."""
from __future__ import annotations

import errno
import json
import math
import mmap
import os
import re
import time
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
DATA = REPO / "tests" / "data" / "fio"
sys.path.insert(0, str(REPO))

from workloads.io import fio, fsync, metadata, sqlite  # noqa: E402
from workloads.io._direct import probe_direct  # noqa: E402

HAVE_FIO = shutil.which("fio") is not None
needs_fio = pytest.mark.skipif(not HAVE_FIO, reason="fio not on PATH")
MIB = 1 << 20


def parsed(name: str) -> dict:
    return fio.parse_fio_json((DATA / name).read_text())


# --- parse_fio_json on captured output ----------------------------------------------------------------------------

def test_parse_sequential_read_libaio():
    result = parsed("read_direct_libaio.json")
    m = result["metrics"]
    assert set(m) == {"read_iops", "read_bw", "read_lat_mean", "read_lat_p99", "iops"}
    assert m["read_iops"] == pytest.approx(6392.026578)
    assert m["iops"] == pytest.approx(6392.026578)
    assert m["read_bw"] == pytest.approx(837815707 / MIB)
    assert m["read_lat_mean"] == pytest.approx(155.51031237)
    assert m["read_lat_p99"] == pytest.approx(218.112)
    info = result["info"]
    assert info["engine"] == "fio-3.33"
    assert (info["read_bytes"], info["write_bytes"]) == (252182528, 0)
    assert info["latency_source"] == "lat_ns"
    assert "fio_notes" not in info


def test_parse_random_write_libaio_qd4():
    result = parsed("randwrite_direct_libaio_qd4.json")
    m = result["metrics"]
    assert set(m) == {"write_iops", "write_bw", "write_lat_mean", "write_lat_p99", "iops"}
    assert m["write_iops"] == pytest.approx(40159.468439)
    assert m["write_bw"] == pytest.approx(164493182 / MIB)
    assert m["write_lat_mean"] == pytest.approx(98.905905195)
    assert m["write_lat_p99"] == pytest.approx(156.672)
    assert (result["info"]["read_bytes"], result["info"]["write_bytes"]) == (0, 49512448)


def test_parse_randrw_with_note_before_json():
    result = parsed("randrw_buffered_psync_qd4.json")
    m = result["metrics"]
    assert m["read_iops"] == pytest.approx(14514.950166)
    assert m["write_iops"] == pytest.approx(6481.727575)
    assert m["iops"] == pytest.approx(14514.950166 + 6481.727575)
    assert m["read_bw"] == pytest.approx(59453235 / MIB)
    assert m["write_lat_p99"] == pytest.approx(4.768)
    assert m["read_lat_mean"] == pytest.approx(63.806678645)
    assert (result["info"]["read_bytes"], result["info"]["write_bytes"]) == (17895424, 7991296)
    assert result["info"]["fio_notes"] == [
        "note: both iodepth >= 1 and synchronous I/O engine are selected, queue depth will be capped at 1"]


def test_parse_falls_back_to_clat_without_lat_percentiles():
    result = parsed("randread_direct_psync_clat.json")
    assert result["info"]["latency_source"] == "clat_ns"
    assert result["metrics"]["read_lat_mean"] == pytest.approx(54.008188191)
    assert result["metrics"]["read_lat_p99"] == pytest.approx(99.84)


def test_parse_tolerates_warning_lines_and_rejects_garbage():
    text = (DATA / "read_direct_libaio.json").read_text()
    warned = fio.parse_fio_json("fio: some warning\n{not json\n" + text)
    assert warned["metrics"] == fio.parse_fio_json(text)["metrics"]
    assert warned["info"]["fio_notes"] == ["fio: some warning", "{not json"]
    with pytest.raises(ValueError):
        fio.parse_fio_json("fio: file:filesetup.c: No space left on device\n")


def test_parse_rejects_a_job_error():
    data = json.loads((DATA / "read_direct_libaio.json").read_text())
    data["jobs"][0]["error"] = errno.ENOSPC
    with pytest.raises(ValueError, match="error"):
        fio.parse_fio_json(json.dumps(data))


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_parsed_metrics_are_declared(path):
    assert set(fio.parse_fio_json(path.read_text())["metrics"]) <= set(fio.METRICS)


# --- the O_DIRECT probe -------------------------------------------------------------------------------------------

def odirect_write_works(directory: str) -> bool:
    """What the kernel says when we open a file with O_DIRECT and write one aligned page."""
    path = os.path.join(directory, "independent-check")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600)
        try:
            with mmap.mmap(-1, 4096) as buf:
                os.write(fd, buf)
        finally:
            os.close(fd)
        return True
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return False
    finally:
        if os.path.exists(path):
            os.unlink(path)


def fio_direct_works(directory: str) -> bool:
    """Whether fio itself can run a direct=1 job there."""
    path = os.path.join(directory, "fio-direct-check")
    argv = ["fio", "--name=probe", f"--filename={path}", "--rw=read", "--bs=4k", "--size=1M", "--direct=1",
            "--ioengine=psync", "--output-format=json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if os.path.exists(path):
        os.unlink(path)
    return proc.returncode == 0 and fio.parse_fio_json(proc.stdout)["metrics"]["read_iops"] > 0


@pytest.fixture(params=["tmp_path", "/dev/shm"])
def probe_dir(request, tmp_path):
    if request.param == "tmp_path":
        yield str(tmp_path)
        return
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="vbench-test-") as directory:
        yield directory


def test_probe_agrees_with_the_kernel(probe_dir):
    works, reason = probe_direct(probe_dir)
    assert works == odirect_write_works(probe_dir)
    assert probe_dir in reason
    assert os.listdir(probe_dir) == []


@needs_fio
def test_probe_agrees_with_fio(probe_dir):
    assert probe_direct(probe_dir)[0] == fio_direct_works(probe_dir)


# --- whole workloads through the runner ---------------------------------------------------------------------------

def run_workload(workload: str, params: dict, workdir: Path) -> dict:
    invocation = json.dumps({"workload": workload, "params": params, "workdir": str(workdir)})
    proc = subprocess.run([sys.executable, str(REPO / "workloads" / "run.py"), invocation],
                          capture_output=True, text=True, timeout=60)
    record = json.loads(proc.stdout)
    assert proc.returncode == 0, record.get("traceback")
    assert record["ok"] is True
    assert os.listdir(workdir) == [], "the workload left files behind"
    return record


def check_metrics(record: dict, module, expected: set) -> None:
    assert set(record["metrics"]) == expected
    assert record["primary"] in expected
    for name, metric in record["metrics"].items():
        assert math.isfinite(metric["value"]) and metric["value"] > 0, name
        assert (metric["unit"], metric["higher_is_better"]) == module.METRICS[name]
    assert record["info"]["io_mode"]


def fio_expected(rw: str) -> set:
    names = {"iops"}
    for d in fio.DIRECTIONS[rw]:
        names |= {f"{d}_iops", f"{d}_bw", f"{d}_lat_mean", f"{d}_lat_p99"}
    return names


TINY = {"size": "8M", "runtime": 0.3}


@needs_fio
@pytest.mark.parametrize("rw", ["read", "randwrite", "randrw"])
def test_fio_job(tmp_path, rw):
    record = run_workload("io.fio", {**TINY, "rw": rw, "engine": "fio"}, tmp_path)
    check_metrics(record, fio, fio_expected(rw))
    info = record["info"]
    assert record["primary"] == fio.PRIMARY_BY_RW[rw]
    assert info["engine"].startswith("fio-")
    assert info["io_mode"] == ("direct" if probe_direct(str(tmp_path))[0] else "buffered+fsync")
    assert all(info[f"{d}_bytes"] > 0 for d in fio.DIRECTIONS[rw])
    assert info["fio_argv"][0].endswith("fio") and f"--rw={rw}" in info["fio_argv"]
    assert record["flags"] == []


@needs_fio
def test_fio_buffered_mode_syncs_and_invalidates(tmp_path):
    record = run_workload("io.fio", {**TINY, "rw": "randwrite", "direct": "off", "iodepth": 4}, tmp_path)
    info = record["info"]
    assert info["io_mode"] == "buffered+fsync"
    assert {"--direct=0", "--end_fsync=1", "--fsync_on_close=1", "--invalidate=1"} <= set(info["fio_argv"])
    assert info["ioengine"] == "psync" and info["iodepth_effective"] == 1


@needs_fio
def test_a_whole_fio_trial_spreads_its_size_over_nrfiles_files_and_removes_them(tmp_path):
    record = run_workload("io.fio", {**TINY, "rw": "randread", "engine": "fio", "nrfiles": 3}, tmp_path)
    names = next(arg for arg in record["info"]["fio_argv"] if arg.startswith("--filename="))
    assert len(names.removeprefix("--filename=").split(":")) == 3
    assert record["metrics"]["read_iops"]["value"] > 0  # run_workload checked that no file is left


@needs_fio
def test_a_paused_fio_lays_out_nrfiles_files_and_has_them_all_open(tmp_path, monkeypatch):
    """Each file is a share of ``size``, laid out before fio starts; fio opens every one; close removes them."""
    if not probe_direct(str(tmp_path))[0]:
        pytest.skip("the test's directory cannot do O_DIRECT")
    monkeypatch.chdir(tmp_path)
    work, _, info = fio.unit({**fio.PARAMS, "rw": "randread", "size": "4M", "nrfiles": 4})
    try:
        assert len(work.paths) == 4 and all(os.path.getsize(path) == MIB for path in work.paths)
        assert info["layout"]["files"] == 4 and info["layout"]["s"] > 0
        done, _ = work()
        opened = {os.readlink(f"/proc/{work.proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{work.proc.pid}/fd")}
        assert done > 0 and set(work.paths) <= opened
    finally:
        work.close()
    assert list(tmp_path.glob("vbench-fio-*")) == []


def test_nrfiles_must_leave_a_block_for_every_file():
    with pytest.raises(ValueError, match="nrfiles"):
        fio.check_params({**fio.PARAMS, "bs": "1M", "size": "2M", "nrfiles": 4})
    fio.check_params({**fio.PARAMS, "bs": "1M", "size": "4M", "nrfiles": 4})
    assert fio.job_from({**fio.PARAMS, "bs": "1M", "size": "9M", "nrfiles": 4}).size == 8 * MIB


@pytest.mark.parametrize("rw,direct", [("read", "auto"), ("randrw", "auto"), ("randwrite", "off")])
def test_python_fallback(tmp_path, rw, direct):
    params = {**TINY, "rw": rw, "engine": "python", "iodepth": 4, "direct": direct}
    record = run_workload("io.fio", params, tmp_path)
    check_metrics(record, fio, fio_expected(rw))
    info = record["info"]
    assert record["flags"] == ["python-fallback"]
    assert info["engine"] == "python" and info["iodepth_effective"] == 1
    assert all(info[f"{d}_bytes"] > 0 for d in fio.DIRECTIONS[rw])
    if direct == "off":
        assert info["io_mode"] == "buffered+fsync"


@pytest.mark.parametrize("sync", ["fsync", "fdatasync"])
def test_fsync(tmp_path, sync):
    record = run_workload("io.fsync", {"seconds": 0.3, "sync": sync}, tmp_path)
    check_metrics(record, fsync, {"ops", "lat_mean", "lat_p50", "lat_p99"})
    assert record["info"]["sync"] == sync


def test_metadata(tmp_path):
    record = run_workload("io.metadata", {"files": 200}, tmp_path)
    check_metrics(record, metadata, {"create", "stat", "unlink", "ops"})
    assert record["info"]["files"] == 200


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_sqlite(tmp_path, mode):
    record = run_workload("io.sqlite", {"seconds": 0.3, "journal_mode": mode}, tmp_path)
    check_metrics(record, sqlite, {"tps", "tx_lat_p99"})
    assert record["info"]["journal_mode"] == mode


def test_bad_parameter_is_a_clean_failure(tmp_path):
    invocation = json.dumps({"workload": "io.fio", "params": {"rw": "sideways"}, "workdir": str(tmp_path)})
    proc = subprocess.run([sys.executable, str(REPO / "workloads" / "run.py"), invocation],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "rw must be one of" in json.loads(proc.stdout)["error"]
    assert os.listdir(tmp_path) == []


# --- the paused fio of sliced trials -----------------------------------------------------------------------------

def stand_in_fio(tmp_path: Path, monkeypatch, script: str) -> Path:
    """A shell script named fio first on PATH; the directory to run in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fio").write_text("#!/bin/sh\n" + script)
    (bin_dir / "fio").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    if not probe_direct(str(work))[0]:
        pytest.skip("the test's directory cannot do O_DIRECT")
    monkeypatch.chdir(work)
    return work


def test_a_fio_that_never_starts_its_io_times_out_and_leaves_nothing(tmp_path, monkeypatch):
    work = stand_in_fio(tmp_path, monkeypatch, "exec sleep 60\n")
    monkeypatch.setattr(fio, "START_TIMEOUT_S", 0.5)
    with pytest.raises(RuntimeError, match="fio did no I/O within 0.5 s of starting"):
        fio.unit({**fio.PARAMS, "rw": "randread", "bs": "64k", "size": "1M", "ioengine": "psync"})
    assert os.listdir(work) == []


@needs_fio
def test_a_fio_killed_between_slices_fails_the_next_slice_with_why(tmp_path, monkeypatch):
    if not probe_direct(str(tmp_path))[0]:
        pytest.skip("the test's directory cannot do O_DIRECT")
    monkeypatch.chdir(tmp_path)
    work, amount, info = fio.unit({**fio.PARAMS, "rw": "randread", "bs": "4k", "size": "4M"})
    try:
        assert amount is None and work()[0] > 0
        work.proc.kill()
        work.proc.wait()
        with pytest.raises(RuntimeError, match="fio exited -9 during a slice"):
            work()
    finally:
        work.close()
    assert os.listdir(tmp_path) == []


@needs_fio
def test_sliced_fio_needs_direct_io(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="unavailable: direct=off: buffered writes are counted when they dirty"):
        fio.unit({**fio.PARAMS, "direct": "off"})
    with pytest.raises(RuntimeError, match="unavailable: engine=python: the Python fallback is not sliced"):
        fio.unit({**fio.PARAMS, "engine": "python"})
    assert fio.cannot_slice({**fio.PARAMS, "rw": "randread", "ramp_time": 1.0}).startswith("ramp_time")
    assert fio.cannot_slice({**fio.PARAMS, "rw": "randread"}) is None
    for mode in ("always", "madvise"):  # fio's buffers can be huge pages: every direct fio job is sliced
        assert fio.cannot_slice({**fio.PARAMS, "rw": "read", "bs": "1M"}, mode) is None
    for mode in ("never", "absent"):  # blocks larger than a page would lie in scattered pages: whole trials
        assert "transparent huge pages are " + mode in fio.cannot_slice({**fio.PARAMS, "bs": "1M"}, mode)
        assert fio.cannot_slice({**fio.PARAMS, "rw": "randread", "bs": "4k"}, mode) is None


@pytest.mark.parametrize("path, fstype", [("/", "ext4"), ("/var/lib/docker/volumes/x", "ext4"),
                                          ("/dev/shm/a b", "tmpfs"), ("/mnt/share", "virtiofs"),
                                          ("/mnt/shared", "ext4")])
def test_the_file_system_of_a_path_is_its_longest_mount_point(tmp_path, path, fstype):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "30 22 0:25 / /dev/shm rw,nosuid shared:2 - tmpfs tmpfs rw\n"
        "31 22 0:40 / /mnt/share rw - virtiofs vbench rw\n")
    assert fio.filesystem_type(path, str(mountinfo)) == fstype


@needs_fio
def test_a_slice_of_a_paused_fio_is_timed_from_its_resume_to_its_stop(tmp_path, monkeypatch):
    """The slice's time is fio's running time: at least the slice's sleep, and less than the call, which also
    waits for every thread to stop and reads the count."""
    if not probe_direct(str(tmp_path))[0]:
        pytest.skip("the test's directory cannot do O_DIRECT")
    monkeypatch.chdir(tmp_path)
    work, _, _ = fio.unit({**fio.PARAMS, "rw": "randread", "bs": "4k", "size": "4M"})
    try:
        for _ in range(5):
            start = time.perf_counter()
            done, ran = work()
            wall = time.perf_counter() - start
            assert done > 0 and fio.SLICE_S <= ran < wall
    finally:
        work.close()


@needs_fio
def test_a_sliced_fio_says_how_long_its_layout_took_and_when_it_ended(tmp_path, monkeypatch):
    """Which side's file is newest mattered (PREPARE_TOGETHER): the unit records its layout's length and end by
    the wall clock."""
    if not probe_direct(str(tmp_path))[0]:
        pytest.skip("the test's directory cannot do O_DIRECT")
    monkeypatch.chdir(tmp_path)
    before = time.time()
    work, _, info = fio.unit({**fio.PARAMS, "rw": "read", "bs": "64k", "size": "4M"})
    try:
        assert before <= info["layout"]["ended_unix"] <= time.time() and info["layout"]["s"] > 0
    finally:
        work.close()


def test_a_layout_says_where_its_file_lies_as_filefrag_does(tmp_path):
    """Each layout records where its file landed on the device (the first extent's offset by FIEMAP), so that a
    run can show whether a side's file lands in the same place every round: the offset is filefrag's."""
    filefrag = shutil.which("filefrag")
    fd = os.open(tmp_path / "f.dat", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        layout = fio.lay_out(fd, 4 << 20, False)
        extents = fio.physical_extents(fd)
    finally:
        os.close(fd)
    assert layout["started_unix"] <= layout["ended_unix"]
    if extents is None:
        assert "physical_gib" not in layout
        pytest.skip("this file system does not map extents (FIEMAP): nothing to compare")
    assert layout["physical_gib"] == round(extents[0][0] / 2**30, 4) and layout["extents"] == len(extents)
    assert sum(length for _, length in extents) >= 4 << 20
    if filefrag is None:
        pytest.skip("filefrag (e2fsprogs) is not installed to compare with")
    out = subprocess.run([filefrag, "-v", "-b1", str(tmp_path / "f.dat")], capture_output=True, text=True,
                         check=True).stdout
    first = re.search(r"^\s*0:\s+\d+\.\.\s*\d+:\s+(\d+)\.\.", out, re.M)
    assert first and int(first.group(1)) == extents[0][0]


def test_a_file_system_that_cannot_map_extents_gives_no_placement(tmp_path):
    """Where FIEMAP fails (a pipe here; tmpfs, 9p elsewhere), the layout has no placement instead of a wrong one."""
    read, write = os.pipe()
    try:
        assert fio.physical_extents(read) is None
    finally:
        os.close(read)
        os.close(write)


# --- fio's I/O buffers in huge pages ------------------------------------------------------------------------------

def test_fio_runs_with_glibcs_huge_page_tunable_beside_the_users_own():
    assert fio.fio_env({"PATH": "/bin"})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    mixed = fio.fio_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0"})
    assert mixed["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    argv = fio.fio_argv(fio.job_from({**fio.PARAMS, "rw": "read"}), ["/x/f"], True, "libaio")
    assert f"--iomem_align={fio.HUGE_PAGE}" in argv


@pytest.mark.parametrize("text, mode", [("always [madvise] never\n", "madvise"), ("[always] madvise never\n", "always"),
                                        ("always madvise [never]\n", "never"), ("", "absent")])
def test_the_huge_page_mode_is_the_bracketed_word(tmp_path, text, mode):
    setting = tmp_path / "enabled"
    setting.write_text(text)
    assert fio.huge_pages_mode(str(setting)) == mode
    assert fio.huge_pages_mode(str(tmp_path / "missing")) == "absent"


@needs_fio
def test_a_paused_fios_buffers_are_in_huge_pages_where_the_kernel_gives_them(tmp_path, monkeypatch):
    """QD16 of 1 MiB is 16 MiB of buffers; aligned to 2 MiB inside memory glibc asked huge pages for, all of it
    is huge (AnonHugePages) when the kernel's mode is always or madvise and huge pages are free."""
    if not probe_direct(str(tmp_path))[0]:
        pytest.skip("the test's directory cannot do O_DIRECT")
    if fio.huge_pages_mode() not in ("always", "madvise"):
        pytest.skip(f"transparent huge pages are {fio.huge_pages_mode()} here")
    monkeypatch.chdir(tmp_path)
    work, _, info = fio.unit({**fio.PARAMS, "rw": "read", "bs": "1M", "iodepth": 16, "size": "16M"})
    try:
        for _ in range(fio.HUGE_CHECKS):  # the worker's calibration: fio faults a buffer in when it first uses it
            work()
        assert info["huge_pages"] == fio.huge_pages_mode()
        assert info["buffers_huge_kib"] >= 16 * 1024, info["buffers_huge_kib"]
    finally:
        work.close()
    job = fio.job_from({**fio.PARAMS, "rw": "read", "bs": "1M", "iodepth": 16, "size": "16M", "runtime": 20})
    bare = subprocess.Popen([*fio.fio_argv(job, [str(tmp_path / "bare")], True, "libaio"), "--thread"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GLIBC_TUNABLES": ""})  # the same fio without the tunable
    try:
        deadline = time.monotonic() + 30
        while fio.io_bytes(bare.pid) < 64 * MIB and time.monotonic() < deadline:  # laid out and reading
            time.sleep(0.05)
        assert fio.io_bytes(bare.pid) >= 64 * MIB
        if fio.huge_pages_mode() == "madvise":  # fio asks for none itself
            assert fio.huge_kib(bare.pid) == 0
    finally:
        bare.kill()
        bare.wait()
