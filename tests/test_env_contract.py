"""One contract suite, run against every environment backend that is available on this host."""
from __future__ import annotations

import os
import signal

import pytest

from vbench import envs
from vbench.envs.base import Availability, Context
from vbench.envs.workers import WorkerLost
from vbench.model import Handle


def available_specs() -> list[str]:
    specs = []
    for kind in sorted(envs.BUILTIN):
        cls = envs.env_class(kind)
        if cls.available().ok and cls.guest_workloads:
            specs += [f"{kind}:{v}" for v in cls.variants] or [kind]
    return specs


@pytest.fixture(scope="module", params=available_specs())
def environment(request, tmp_path_factory):
    """One provisioned environment per variant for the whole module (a VM boots once, not per test)."""
    spec, cls = envs.resolve(request.param)
    with cls(spec, Context("contract", str(tmp_path_factory.mktemp("scratch")))) as env:
        yield env


@pytest.mark.parametrize("kind", sorted(envs.BUILTIN))
def test_availability_has_a_reason(kind):
    availability = envs.env_class(kind).available()
    assert isinstance(availability, Availability) and availability.reason


def test_executes_a_workload_and_reports_the_handle(environment):
    handles = []
    execution = environment.execute({"workload": "cpu.sha256", "params": {"seconds": 0.05, "size": "64k"}},
                                    timeout=120, on_start=handles.append)
    result = execution.result()
    assert execution.returncode == 0 and result["ok"], execution.stderr
    assert result["metrics"]["throughput"]["value"] > 0
    assert execution.host_wall_s >= result["duration_s"] > 0
    assert handles and isinstance(handles[0], Handle)


def test_workload_runs_in_the_storage_under_test(environment):
    execution = environment.execute({"workload": "io.fsync", "params": {"seconds": 0.05}}, timeout=120)
    result = execution.result()
    assert result["ok"], execution.stderr
    assert result["info"]["io_mode"]


def test_timeout_kills_the_trial(environment):
    execution = environment.execute({"workload": "cpu.pyloop", "params": {"seconds": 30.0}}, timeout=1.0)
    assert execution.timed_out and execution.host_wall_s < 20


def test_failure_comes_back_as_a_record(environment):
    execution = environment.execute({"workload": "io.fio", "params": {"rw": "sideways"}}, timeout=60)
    result = execution.result()
    assert execution.returncode == 1 and result["ok"] is False and "rw must be" in result["error"]


def prepare(environment, pipe) -> dict:
    request = {"op": "prepare", "workload": "cpu.pyloop", "params": {"loops": 2000}, "workdir": environment.workdir}
    return pipe.ask(request, timeout=120)


def test_a_warm_worker_slices_inside_the_environment(environment):
    """Sliced trials (vbench.slices) keep one worker per environment and ask it for slices over its pipe."""
    pipe = environment.worker()
    try:
        prepared = prepare(environment, pipe)
        assert prepared["ok"], prepared
        assert prepared["unit_s"] > 0 and prepared["amount"] == 2000
        assert environment.worker() is pipe  # kept warm between slices and blocks
        sliced = pipe.ask({"op": "slice", "calls": 2}, timeout=120)
        assert sliced["ok"] and sliced["elapsed_s"] > 0
        refused = pipe.ask({"op": "prepare", "workload": "mem.latency", "params": {}}, timeout=120)
        assert refused == {"ok": False, "error": "mem.latency cannot be sliced (it has no unit of work)"}
    finally:
        environment.drop_worker()


def test_a_warm_worker_slices_io_with_a_paused_fio_inside_the_environment(environment):
    """Sliced I/O: the worker lays out its file where the environment's storage is, keeps a fio paused between
    slices and counts each slice's work from the kernel's accounting inside the environment; storage the
    kernel does not count per process (tmpfs, virtiofs, 9p) says so, as the environment says before a run."""
    pipe = environment.worker()
    try:
        request = {"op": "prepare", "workload": "io.fio", "params": {"rw": "randread", "bs": "4k", "size": "8M"},
                   "workdir": environment.workdir}
        prepared = pipe.ask(request, timeout=600)
        reason = environment.cannot_slice_io()
        if reason:
            assert not prepared["ok"] and prepared["error"].startswith("unavailable: "), prepared
            pytest.skip(f"{environment.spec.label} cannot slice fio: {reason}")
        assert prepared["ok"], prepared
        assert prepared["measured"] and prepared["info"]["primary"] == "read_iops"
        sliced = pipe.ask({"op": "slice", "calls": 2}, timeout=300)
        assert sliced["ok"] and sliced["work"] > 0 and sliced["elapsed_s"] > 0
        assert prepare(environment, pipe)["ok"]  # the next unit closes the fio
    finally:
        environment.drop_worker()


def test_a_paused_fios_buffers_are_in_huge_pages_inside_the_environment(environment):
    """fio inherits the worker's environment plus glibc's huge page tunable wherever the worker runs (a
    container's, a VM guest's): under the environment's own kernel mode always or madvise, its 16 buffers of
    1 MiB are mostly huge pages by the time the worker has calibrated the unit. Mostly: a kernel with no free
    2 MiB page at a fault gives 4 KiB pages (the TCG guest, late in a test session, gave 14 of 16 MiB; each
    trial records its figure as info.buffers_huge_kib), while fio without the tunable under madvise gets none
    (tests/test_workloads_io.py)."""
    if environment.cannot_slice_io():
        pytest.skip(f"{environment.spec.label} cannot slice fio: {environment.cannot_slice_io()}")
    request = {"op": "prepare", "workload": "io.fio", "workdir": environment.workdir,
               "params": {"rw": "read", "bs": "1M", "iodepth": 16, "size": "32M"}}
    try:
        prepared = environment.worker().ask(request, timeout=600)
    finally:
        environment.drop_worker()
    assert prepared["ok"], prepared
    info = prepared["info"]
    assert info["huge_pages"] in ("always", "madvise", "never", "absent")
    if info["huge_pages"] in ("always", "madvise"):
        assert info["buffers_huge_kib"] >= 8 * 1024, info


def test_a_dropped_worker_leaves_no_fio_file_behind(environment):
    """Dropping a worker (after every block) closes its paused fio and removes its file first, in every
    environment (in a VM the guest agent's worker too): the next paused fio finds none of them left."""
    if environment.cannot_slice_io():
        pytest.skip(f"{environment.spec.label} cannot slice fio: {environment.cannot_slice_io()}")
    request = {"op": "prepare", "workload": "io.fio", "params": {"rw": "randread", "bs": "4k", "size": "8M"},
               "workdir": environment.workdir}
    for _ in range(2):
        prepared = environment.worker().ask(request, timeout=600)
        environment.drop_worker()
        assert prepared["ok"], prepared
        assert prepared["info"]["stale_files_removed"] == prepared["info"]["other_fio_files"] == 0


def test_a_killed_worker_is_lost_with_why_and_the_next_one_starts(environment):
    if environment.kind == "vm":
        pytest.skip("a VM's worker is the guest agent's own process: killing it kills the guest (the stand-in "
                    "QEMU of test_qemu_faults.py makes each way a guest fails happen during a sliced trial)")
    pipe = environment.worker()
    assert prepare(environment, pipe)["ok"]
    os.kill(pipe.pid, signal.SIGKILL)
    with pytest.raises(WorkerLost, match="exited with status (-9|137)"):
        pipe.ask({"op": "slice", "calls": 1}, timeout=30)
    environment.drop_worker()
    fresh = environment.worker()
    try:
        assert fresh is not pipe and prepare(environment, fresh)["ok"]
    finally:
        environment.drop_worker()


def test_teardown_removes_the_scratch(tmp_path):
    for kind in sorted(envs.BUILTIN):
        if not envs.env_class(kind).available().ok or not envs.env_class(kind).guest_workloads:
            continue
        spec, cls = envs.resolve(kind)
        env = cls(spec, Context("contract", str(tmp_path / "scratch")))
        with env:
            env.execute({"workload": "io.fsync", "params": {"seconds": 0.05}}, timeout=60)
        assert env.lifecycle.to_dict()["provision_s"] >= 0 and env.lifecycle.to_dict()["teardown_s"] >= 0
    assert not any((tmp_path / "scratch").iterdir())


@pytest.mark.parametrize("kind", sorted(envs.BUILTIN))
def test_startup_latency_is_measured_by_the_environment(kind, tmp_path):
    if not envs.env_class(kind).available().ok or not envs.env_class(kind).guest_workloads:
        pytest.skip(f"{kind} unavailable here or runs no guest workloads")
    spec, cls = envs.resolve(kind)
    with cls(spec, Context("startup", str(tmp_path / "scratch"), {"accel": "tcg"})) as env:
        execution = env.execute({"workload": "startup.first_output", "params": {}}, timeout=300)
    result = execution.result()
    assert execution.returncode == 0 and result["ok"], execution.stdout
    first = result["metrics"]["first_output"]
    assert first["unit"] == "s" and not first["higher_is_better"] and 0 < first["value"] < 300
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir())
