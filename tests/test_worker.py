"""The warm worker for sliced trials (workloads/worker.py), driven over its pipe as the runner will drive it.

Each test starts a real worker process with the system python3 (the guest image's interpreter and packages) and
checks the protocol: what a prepared workload answers, that slices and series are timed, and that every bad
request fails alone while the worker stays warm. Speeds are never asserted, only that they are sane numbers.
"""
from __future__ import annotations

import importlib
import json
import os
import time
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
WORKER = ROOT / "workloads" / "worker.py"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
SLICEABLE = {
    "cpu.pyloop": {"loops": 5_000},
    "cpu.sha256": {"size": "64k"},
    "cpu.zlib": {"size": "128k"},
    "cpu.sieve": {"limit": 10_000},
    "cpu.matmul": {"n": 32, "threads": 1},
}


class Pipe:
    """One worker process and a request/reply helper."""

    def __init__(self, interpreter: list[str], tmp_path: Path, env: dict | None = None):
        self.proc = subprocess.Popen([*interpreter, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"worker died: {self.proc.stderr.read()}"
        return json.loads(line)

    def close(self) -> int:
        self.proc.stdin.write('{"op": "exit"}\n')
        self.proc.stdin.flush()
        return self.proc.wait(timeout=30)


@pytest.fixture
def worker(tmp_path):
    if SYSTEM_PYTHON is None:
        pytest.skip("no system python3 to run the worker as the guest does")
    pipe = Pipe([SYSTEM_PYTHON], tmp_path)
    yield pipe
    if pipe.proc.poll() is None:
        pipe.proc.kill()
        pipe.proc.wait()


@pytest.mark.parametrize("workload", sorted(SLICEABLE))
def test_every_cpu_workload_prepares_and_slices(worker, tmp_path, workload):
    reply = worker.ask(op="prepare", workload=workload, params=SLICEABLE[workload], workdir=str(tmp_path))
    assert reply["ok"], reply
    assert reply["unit_s"] > 0 and reply["amount"] > 0
    assert reply["pid"] == worker.proc.pid
    sliced = worker.ask(op="slice", calls=3)
    assert sliced["ok"] and sliced["elapsed_s"] > 0
    assert worker.close() == 0


def test_unit_does_the_work_run_does():
    """A slice's unit is the same work a whole trial repeats: same check figures, amount in the metric's unit."""
    sys.path.insert(0, str(ROOT))
    pyloop = importlib.import_module("workloads.cpu.pyloop")
    params = dict(pyloop.PARAMS, loops=7_000, seconds=0.05)
    work, amount, info = pyloop.unit(params)
    assert amount == 7_000
    assert work() == info["checksum"] == pyloop.run(params, ".")["info"]["checksum"]


def test_series_times_consecutive_slices(worker, tmp_path):
    assert worker.ask(op="prepare", workload="cpu.pyloop", params={"loops": 2_000}, workdir=str(tmp_path))["ok"]
    reply = worker.ask(op="series", calls=2, count=5)
    assert reply["ok"]
    assert len(reply["t"]) == len(reply["elapsed_s"]) == 5
    assert all(later > earlier for earlier, later in zip(reply["t"], reply["t"][1:]))
    assert all(d > 0 for d in reply["elapsed_s"])
    # consecutive: each slice starts after the previous one ended
    assert all(reply["t"][i + 1] >= reply["t"][i] + reply["elapsed_s"][i] for i in range(4))


@pytest.mark.parametrize("request_, error", [
    ({"op": "slice", "calls": 1}, "no workload prepared"),
    ({"op": "dance"}, "unknown op 'dance'"),
    ({"op": "prepare", "workload": "mem.latency", "params": {}},
     "mem.latency cannot be sliced (it has no unit of work)"),
    ({"op": "prepare", "workload": "cpu.pyloop", "params": {"loops": -5}}, "loops"),
    ({"op": "prepare", "workload": "cpu.nosuch", "params": {}}, "nosuch"),
])
def test_a_bad_request_fails_alone_and_the_worker_stays_warm(worker, tmp_path, request_, error):
    reply = worker.ask(**request_)
    assert reply["ok"] is False and error in reply["error"]
    ok = worker.ask(op="prepare", workload="cpu.pyloop", params={"loops": 1_000}, workdir=str(tmp_path))
    assert ok["ok"] and worker.ask(op="slice", calls=1)["ok"]
    assert worker.close() == 0


def test_a_workload_without_its_library_says_unavailable(tmp_path):
    if SYSTEM_PYTHON is None:
        pytest.skip("no system python3")
    pipe = Pipe([SYSTEM_PYTHON, "-S"], tmp_path)  # -S: no site-packages, so no numpy
    reply = pipe.ask(op="prepare", workload="cpu.matmul", params={"n": 32}, workdir=str(tmp_path))
    assert reply == {"ok": False, "error": "unavailable: numpy is not installed"}
    assert pipe.close() == 0


def test_prepare_pins_the_worker_to_the_asked_cpu_and_back(worker, tmp_path):
    import os

    cpus = sorted(os.sched_getaffinity(0))
    asked = worker.ask(op="prepare", workload="cpu.pyloop", params={"loops": 1_000}, workdir=str(tmp_path), cpu=1)
    assert asked["ok"] and asked["affinity"] == [cpus[1 % len(cpus)]]
    free = worker.ask(op="prepare", workload="cpu.pyloop", params={"loops": 1_000}, workdir=str(tmp_path))
    assert free["affinity"] == cpus


def test_calls_below_one_are_refused(worker, tmp_path):
    assert worker.ask(op="prepare", workload="cpu.pyloop", params={"loops": 1_000}, workdir=str(tmp_path))["ok"]
    assert worker.ask(op="slice", calls=0) == {"ok": False, "error": "calls must be at least 1, not 0"}


def test_garbage_on_the_pipe_is_an_error_reply(worker):
    worker.proc.stdin.write("this is not json\n")
    worker.proc.stdin.flush()
    reply = json.loads(worker.proc.stdout.readline())
    assert reply["ok"] is False and "JSONDecodeError" in reply["error"]
    assert worker.close() == 0


def test_the_worker_ends_when_its_pipe_closes(worker):
    worker.proc.stdin.close()
    assert worker.proc.wait(timeout=30) == 0


def test_an_installed_vbench_s_packages_do_not_stand_in_for_the_interpreters_own(tmp_path):
    """Installed from a wheel, the workloads live in a virtualenv's site-packages beside its numpy: the runner and
    the worker, run by the system's python3, must import that python3's numpy, not the one beside them (the
    fleet's hosts run vbench so; their native matmul once measured the wheel's OpenBLAS against Debian's BLAS)."""
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"{python} has no numpy of its own to compare with")
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "workloads", site / "workloads", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "numpy").mkdir()
    (site / "numpy" / "__init__.py").write_text("__version__ = 'the one beside the workloads'\n")
    invocation = json.dumps({"workload": "cpu.matmul", "params": {"seconds": 0.01, "n": 16}})
    done = subprocess.run([python, str(site / "workloads" / "run.py"), invocation], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["info"]["numpy"] == probe.stdout.strip()


# --- I/O units: a paused fio, one fsync, one SQLite commit ------------------------------------------------------

HAVE_FIO = shutil.which("fio") is not None
IO_UNITS = {"io.fsync": {"span": "1M"}, "io.sqlite": {}}


def scratch_left(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("vbench-"))


def fio_children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True) if c.name() == "fio"]


@pytest.mark.skipif(not HAVE_FIO, reason="fio not on PATH")
@pytest.mark.parametrize("rw, primary", [("randread", "read_iops"), ("write", "write_bw"), ("randrw", "iops")])
def test_a_paused_fio_slices_and_reports_its_work(worker, tmp_path, rw, primary):
    reply = worker.ask(op="prepare", workload="io.fio", params={"rw": rw, "bs": "4k", "size": "4M"},
                       workdir=str(tmp_path))
    if not reply["ok"] and "O_DIRECT" in reply["error"]:
        pytest.skip(f"the test's directory cannot do O_DIRECT: {reply['error']}")
    assert reply["ok"], reply
    assert reply["measured"] is True and reply["amount"] is None
    assert reply["info"]["primary"] == primary and reply["info"]["io_mode"] == "direct"
    [fio] = fio_children(worker.proc.pid)
    sliced = worker.ask(op="slice", calls=2)
    assert sliced["ok"] and sliced["work"] > 0 and sliced["elapsed_s"] >= 0.1
    import psutil

    assert psutil.Process(fio).status() == psutil.STATUS_STOPPED  # paused between slices
    assert len(scratch_left(tmp_path)) == 1
    assert worker.ask(op="prepare", workload="cpu.pyloop", params={"loops": 1_000}, workdir=str(tmp_path))["ok"]
    assert scratch_left(tmp_path) == [] and not psutil.pid_exists(fio)  # the next unit closed this one
    assert worker.close() == 0


SEQ_READ = {"rw": "read", "bs": "64k", "size": "4M"}


def paused_fio(worker, tmp_path) -> int:
    """The pid of the paused fio of a unit prepared in ``worker`` (or the test is skipped, with why)."""
    reply = worker.ask(op="prepare", workload="io.fio", params=SEQ_READ, workdir=str(tmp_path))
    if not reply["ok"]:
        pytest.skip(reply["error"])
    [fio] = fio_children(worker.proc.pid)
    return fio


@pytest.mark.skipif(not HAVE_FIO, reason="fio not on PATH")
def test_a_paused_fio_dies_with_its_worker(worker, tmp_path):
    import psutil

    fio = paused_fio(worker, tmp_path)
    worker.proc.kill()  # no close(): the kernel's parent-death signal must end the stopped fio
    worker.proc.wait()
    psutil.wait_procs([psutil.Process(fio)], timeout=10)
    assert not psutil.pid_exists(fio) or psutil.Process(fio).status() == psutil.STATUS_ZOMBIE
    [left] = scratch_left(tmp_path)  # a killed worker cannot remove its file: the next paused fio does
    alive = tmp_path / f"vbench-fio-{os.getpid()}-0badcafe.dat"  # a living process's file stays
    alive.write_bytes(b"")
    fresh = Pipe([SYSTEM_PYTHON], tmp_path)
    try:
        again = fresh.ask(op="prepare", workload="io.fio", params=SEQ_READ, workdir=str(tmp_path))
        assert again["ok"] and again["info"]["stale_files_removed"] == again["info"]["other_fio_files"] == 1
        assert left not in scratch_left(tmp_path) and alive.name in scratch_left(tmp_path)
        assert len(scratch_left(tmp_path)) == 2  # the living one's and the new fio's
    finally:
        assert fresh.close() == 0
    assert scratch_left(tmp_path) == [alive.name]


@pytest.mark.skipif(not HAVE_FIO, reason="fio not on PATH")
def test_close_ends_the_paused_fio_and_removes_its_file_and_the_worker_stays(worker, tmp_path):
    import psutil

    fio = paused_fio(worker, tmp_path)
    assert worker.ask(op="close") == {"ok": True}
    assert scratch_left(tmp_path) == [] and not psutil.pid_exists(fio)
    assert worker.ask(op="slice", calls=1) == {"ok": False, "error": "no workload prepared"}
    assert worker.close() == 0


def test_a_fio_that_fails_at_start_is_an_error_with_its_words(tmp_path):
    """A stand-in fio on PATH that exits at once: the prepare fails with fio's own words, nothing is left."""
    if SYSTEM_PYTHON is None:
        pytest.skip("no system python3")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fio").write_text("#!/bin/sh\necho 'fio: engine libaio not loadable' >&2\nexit 1\n")
    (bin_dir / "fio").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    pipe = Pipe([SYSTEM_PYTHON], tmp_path, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    reply = pipe.ask(op="prepare", workload="io.fio", params={"rw": "read", "bs": "64k", "size": "1M",
                                                             "ioengine": "psync"}, workdir=str(work))
    if "O_DIRECT" in reply.get("error", ""):
        pytest.skip(f"the test's directory cannot do O_DIRECT: {reply['error']}")
    assert reply["ok"] is False
    assert "fio exited 1 before its first I/O: fio: engine libaio not loadable" in reply["error"]
    assert scratch_left(work) == []
    assert pipe.close() == 0


@pytest.mark.parametrize("workload", sorted(IO_UNITS))
def test_python_io_units_slice_and_clean_up(worker, tmp_path, workload):
    reply = worker.ask(op="prepare", workload=workload, params=IO_UNITS[workload], workdir=str(tmp_path))
    assert reply["ok"], reply
    assert reply["amount"] == 1.0 and reply["measured"] is False
    sliced = worker.ask(op="slice", calls=5)
    assert sliced["ok"] and sliced["elapsed_s"] > 0 and "work" not in sliced
    assert scratch_left(tmp_path)
    assert worker.close() == 0
    assert scratch_left(tmp_path) == []  # the worker closed its unit on the way out


def test_a_slice_takes_a_measured_units_own_time_when_every_call_gives_it():
    """A unit returning (work, seconds) is timed by its seconds (a paused fio's running time); one returning the
    work alone, by the calls' wall time."""
    from workloads.worker import Worker

    timed = Worker()
    timed.unit, timed.measured = (lambda: (2.0, 0.01)), True
    elapsed, work = timed.slice(3)
    assert work == 6.0 and elapsed == pytest.approx(0.03)

    def plain() -> float:
        time.sleep(0.02)
        return 2.0

    walled = Worker()
    walled.unit, walled.measured = plain, True
    elapsed, work = walled.slice(2)
    assert work == 4.0 and elapsed >= 0.04
