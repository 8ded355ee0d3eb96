"""Paired slices (vbench.slices) on fake workers: the order, the calibration, the discarded cycle, the figure,
and what a failing worker costs. The real workers are driven in test_worker.py, test_env_contract.py and
test_qemu_faults.py."""
from __future__ import annotations

import time

import pytest

from vbench import slices
from vbench.envs.workers import WorkerLost, WorkerPipe


class FakeWorker(WorkerPipe):
    """A worker whose unit takes ``unit_s`` and whose slices take ``calls * unit_s * factor``; it logs every
    request in ``log`` (shared by a block's workers) and can fail at its ``fail_at``-th slice."""

    def __init__(self, name, log, unit_s=0.01, factor=1.0, amount=1000.0, fail_at=None, how="lost"):
        self.name, self.log, self.unit_s, self.factor, self.amount = name, log, unit_s, factor, amount
        self.fail_at, self.how, self.slices = fail_at, how, 0

    def ask(self, request, timeout):
        self.log.append((self.name, request["op"], request.get("calls")))
        if request["op"] == "prepare":
            return {"ok": True, "unit_s": self.unit_s, "amount": self.amount, "info": {"checksum": 7}, "pid": 1}
        self.slices += 1
        if self.fail_at is not None and self.slices >= self.fail_at:
            if self.how == "lost":
                raise WorkerLost("the worker exited with status -9")
            return {"ok": False, "error": "unavailable: numpy is not installed"}
        # the first slice of the block (the discarded cycle) is slow, as after a switch
        slow = 3.0 if self.slices == 1 else 1.0
        return {"ok": True, "elapsed_s": request["calls"] * self.unit_s * self.factor * slow}

    def close(self):
        pass


HERE = {"native": {"workdir": "/"}, "docker": {"workdir": "/"}}  # what each environment adds to the invocation


def block(*workers, seconds=0.2, slice_s=0.05):
    return slices.run_block({w.name: w for w in workers}, {"workload": "cpu.pyloop", "params": {}},
                            {w.name: {"workdir": "/scratch"} for w in workers}, seconds, slice_s, 10.0,
                            baseline="native")


def test_a_cycle_is_a_palindrome_so_every_side_is_centred_on_the_same_moment():
    assert slices.palindrome(["a", "b", "c"]) == ["a", "b", "c", "c", "b", "a"]
    log = []
    block(FakeWorker("docker", log), FakeWorker("native", log))
    order = [name for name, op, _ in log if op == "slice"]
    assert order[:8] == ["docker", "native", "native", "docker"] * 2
    # the mean position of each side's slices is the same in every cycle
    for start in range(0, len(order), 4):
        cycle = order[start:start + 4]
        assert sum(i for i, n in enumerate(cycle) if n == "docker") == sum(i for i, n in enumerate(cycle)
                                                                          if n == "native")


def test_every_side_does_the_baseline_calibrated_work_unless_it_is_far_slower():
    log = []
    parts, cycles = block(FakeWorker("native", log, unit_s=0.01), FakeWorker("docker", log, unit_s=0.03),
                          FakeWorker("vm", log, unit_s=0.05), seconds=0.6)
    # 50 ms of the baseline's unit; docker (3x slower) does the same work, the VM (5x) is calibrated on its own
    assert parts["native"].calls == parts["docker"].calls == 5 and parts["vm"].calls == 1
    # 0.6 s of the slowest side's slices (docker's 150 ms), two a cycle: 2 kept cycles, and the discarded one
    assert cycles == 2 + slices.DISCARDED_CYCLES
    assert len(parts["native"].times) == len(parts["docker"].times) == 2 * 2


def test_a_side_slower_than_a_slice_does_not_stretch_the_block():
    """An emulated VM whose one call takes 0.5 s gets one call a slice, and the block about a trial's length
    on its side, not forty times a trial's."""
    parts, cycles = block(FakeWorker("native", [], unit_s=0.01), FakeWorker("vm", [], unit_s=0.5), seconds=2.0)
    assert parts["vm"].calls == 1
    assert cycles == 2 + slices.DISCARDED_CYCLES  # 2 s over 2 x 0.5 s a cycle


def test_a_unit_slower_in_the_block_than_at_calibration_does_not_stretch_the_block():
    """metadata's calls take 4 ms at calibration and 3-4 times that against a busy journal: the kept cycles come
    from the discarded cycle's slices (the quicker of a side's two), not from the calibration."""
    parts, cycles = block(FakeWorker("native", [], unit_s=0.01, factor=3.0), seconds=0.6)
    assert parts["native"].calls == 5  # calibrated: 50 ms; each slice takes 150 ms
    assert cycles == 2 + slices.DISCARDED_CYCLES  # 0.6 s over 2 x 150 ms, not over 2 x 50 ms (6 cycles)
    assert len(parts["native"].times) == 2 * 2


def test_the_first_cycle_is_discarded_and_the_figure_is_work_over_time():
    parts, _ = block(FakeWorker("native", [], unit_s=0.01, amount=1000.0),
                     FakeWorker("docker", [], unit_s=0.01, factor=1.25, amount=1000.0))
    # the slow first slice of each worker is gone: every kept slice is the steady one
    assert parts["native"].times == [pytest.approx(0.05)] * len(parts["native"].times)
    assert parts["native"].rate == pytest.approx(1000 / 0.01)
    assert parts["docker"].rate == pytest.approx(1000 / 0.0125)
    info = parts["docker"].info(5, ["native", "docker"])
    assert info["checksum"] == 7 and info["slices"]["order"] == "native docker docker native"
    assert info["slices"]["discarded_cycles"] == 1 and info["slices"]["slice_cv"] == 0.0


def test_at_least_three_cycles_are_kept_however_short_the_trial():
    _, cycles = block(FakeWorker("native", []), FakeWorker("docker", []), seconds=0.001)
    assert cycles == slices.MIN_KEPT_CYCLES + slices.DISCARDED_CYCLES


@pytest.mark.parametrize("how, error", [("lost", "the worker was lost: the worker exited with status -9"),
                                        ("refused", "unavailable: numpy is not installed")])
def test_a_failing_worker_fails_its_own_side_only(how, error):
    log = []
    parts, _ = block(FakeWorker("native", log), FakeWorker("docker", log, fail_at=3, how=how),
                     FakeWorker("native:aa", log))
    assert parts["docker"].rate is None and parts["docker"].error == error
    assert parts["native"].rate and parts["native:aa"].rate
    # no request goes to a worker after it failed
    assert [op for name, op, _ in log if name == "docker"].count("slice") == 3


def test_when_the_baseline_fails_every_side_fails_with_why():
    parts, _ = block(FakeWorker("native", [], fail_at=2), FakeWorker("docker", []))
    assert parts["native"].error == "the worker was lost: the worker exited with status -9"
    assert parts["docker"].rate is None
    assert parts["docker"].error == ("the baseline's worker failed: "
                                     "the worker was lost: the worker exited with status -9")


class Hanging(FakeWorker):
    """A worker whose slices never end: ask waits out the timeout it is given, then the worker is lost."""

    def ask(self, request, timeout):
        if request["op"] == "prepare":
            return super().ask(request, timeout)
        time.sleep(min(timeout, 0.05))
        raise WorkerLost(f"the worker did not reply within {timeout:.0f}s")


def test_a_whole_trials_timeout_bounds_each_sides_share_of_the_block():
    """A workload asked for 600 s still ends at the trial's timeout: each side's slices are bounded by it."""
    parts, _ = slices.run_block({"native": FakeWorker("native", []), "docker": FakeWorker("docker", [])},
                                {"workload": "cpu.pyloop", "params": {}}, HERE,
                                seconds=600.0, slice_s=0.05, timeout=0.5, baseline="native")
    # the fake's slices take no real time, so each side's host clock is what counts; 600 s never pass
    assert all(p.rate is not None for p in parts.values())
    parts, _ = slices.run_block({"native": FakeWorker("native", []), "docker": Hanging("docker", [])},
                                {"workload": "cpu.pyloop", "params": {}}, HERE,
                                seconds=0.2, slice_s=0.05, timeout=0.04, baseline="native")
    assert parts["docker"].timed_out and "did not reply" in parts["docker"].error


def test_clock_drift_separates_a_straying_clock_from_the_channels_fixed_cost():
    steady = slices.Sliced("vm", times=[0.05] * 10, round_trips=[0.055] * 9 + [0.056])
    assert abs(slices.clock_drift(steady)) < 0.01  # 5 ms a request is the channel, not the clock
    slow = slices.Sliced("vm", times=[0.045] * 10, round_trips=[0.055] * 10)
    slow.round_trips[0] = 0.0455  # one quick request shows the channel's own cost: half a millisecond
    assert slices.clock_drift(slow) == pytest.approx(0.16, abs=0.01)  # the guest counts 16% short
    assert slices.clock_drift(slices.Sliced("vm")) is None


def test_a_backend_keeps_workers_where_it_opens_them():
    from vbench.envs.base import Environment
    from vbench.envs.dockernet import DockerNet
    from vbench.envs.native import Native

    class Plugin(Environment):  # written before keeps_workers: defining open_worker is enough
        def open_worker(self):
            raise NotImplementedError

    class Refusing(Native):  # inherits a worker, and says it cannot keep one
        keeps_workers = False

    assert Native.keeps_workers and Plugin.keeps_workers and not Refusing.keeps_workers
    assert not Environment.keeps_workers and not DockerNet.keeps_workers


class MeasuredWorker(FakeWorker):
    """A worker whose unit measures its own work (a paused fio): each slice reports ``rates[i]`` x its time,
    where i counts its slices."""

    def __init__(self, name, log, rates):
        super().__init__(name, log, unit_s=0.05)
        self.rates = rates

    def ask(self, request, timeout):
        reply = super().ask(request, timeout)
        if request["op"] == "prepare":
            return {**reply, "amount": None, "measured": True}
        if reply.get("ok"):
            reply["work"] = self.rates[(self.slices - 1) % len(self.rates)] * reply["elapsed_s"]
        return reply


def test_a_measured_units_figure_is_its_reported_work_over_its_time():
    log = []
    parts, _ = slices.run_block({"native": MeasuredWorker("native", log, [100.0]),
                                 "docker": MeasuredWorker("docker", log, [80.0])},
                                {"workload": "io.fio", "params": {}}, {"native": {}, "docker": {}}, 0.4, 0.05, 10.0,
                                baseline="native")
    assert parts["native"].calls == parts["docker"].calls == 1  # a 50 ms unit, one call a slice
    assert parts["native"].rate == pytest.approx(100.0) and parts["docker"].rate == pytest.approx(80.0)


def test_the_pair_median_is_not_moved_by_one_stalled_slice():
    """One slice of sixteen stalls (a tenth of its rate): work over time moves by 6%, the median over slice
    pairs not at all; the baseline keeps its own total."""
    stall = [80.0] * 5 + [8.0] + [80.0] * 10

    def run(estimator):
        return slices.run_block({"native": MeasuredWorker("native", [], [100.0]),
                                 "docker": MeasuredWorker("docker", [], stall)},
                                {"workload": "io.fio", "params": {}}, {"native": {}, "docker": {}}, 0.8, 0.05,
                                10.0, baseline="native", estimator=estimator)[0]

    total, robust = run("total"), run("pair-median")
    assert total["docker"].rate == pytest.approx(80.0 - 72.0 / 16)
    assert robust["docker"].rate == pytest.approx(80.0)
    assert robust["docker"].total == pytest.approx(total["docker"].rate)
    assert robust["native"].rate == pytest.approx(100.0)
    assert robust["docker"].info(1, ["native", "docker"])["slices"]["total_rate"] == robust["docker"].total


@pytest.mark.parametrize("params, seconds", [({"seconds": 2.0}, 2.0), ({"runtime": 5.0}, 5.0), ({}, 1.0)])
def test_a_block_lasts_the_workloads_seconds_or_its_runtime(params, seconds):
    assert slices.block_seconds(params) == seconds


class Backend:
    """What plan_blocks asks of an environment."""

    def __init__(self, io_reason=None):
        self.keeps_workers, self.io_reason = True, io_reason

    def cannot_slice_io(self):
        return self.io_reason


def io_cases(name="rand-read", workload="io.fio", params=None, labels=("native", "docker:volume", "docker:tmpfs")):
    from vbench.model import Case, EnvSpec

    return [Case(name, workload, params or {"rw": "randread"}, EnvSpec.parse(label)) for label in labels]


ACTIVE = {"native": Backend(), "docker:volume": Backend(), "docker:tmpfs": Backend("tmpfs is memory")}


def test_an_environment_that_cannot_count_fio_runs_whole_beside_the_others_slices():
    from vbench.run.blocks import plan_blocks, slicing, units
    from vbench.run.options import RunOptions

    cases = io_cases()
    blocks = plan_blocks(cases, ACTIVE, RunOptions())
    block = blocks["rand-read"]
    assert block.sliced and block.whole_envs == {"docker:tmpfs": "tmpfs is memory"}
    assert slicing(blocks) == {"rand-read": None, "rand-read @ docker:tmpfs": "tmpfs is memory"}
    work = units(blocks, cases[::-1], {c.case_id for c in cases})
    assert [(b.sliced, [c.env.label for c in cs]) for b, cs in work] == [
        (False, ["docker:tmpfs"]), (True, ["docker:volume", "native"])]
    # a resumed run keeps what run.json says, whatever the environments say now
    again = plan_blocks(cases, {label: Backend() for label in ACTIVE}, RunOptions(), slicing(blocks))
    assert again["rand-read"].whole_envs == block.whole_envs


def test_python_io_units_slice_on_any_storage_and_buffered_fio_runs_whole():
    from vbench.run.blocks import plan_blocks
    from vbench.run.options import RunOptions

    fsync = plan_blocks(io_cases("fsync", "io.fsync", {}), ACTIVE, RunOptions())["fsync"]
    assert fsync.sliced and fsync.whole_envs == {}
    buffered = plan_blocks(io_cases(params={"rw": "randread", "direct": "off"}), ACTIVE, RunOptions())["rand-read"]
    assert buffered.whole_because.startswith("direct=off: buffered writes")
    metadata = plan_blocks(io_cases("meta", "io.metadata", {}), ACTIVE, RunOptions())["meta"]
    assert metadata.sliced and metadata.whole_envs == {}  # a Python unit, timed by the clock: any storage
    latency = plan_blocks(io_cases("lat", "mem.latency", {}), ACTIVE, RunOptions())["lat"]
    assert latency.whole_because == "mem.latency has no unit of work to slice"


def test_a_baseline_that_cannot_count_fio_makes_the_whole_block_whole():
    from vbench.run.blocks import plan_blocks
    from vbench.run.options import RunOptions

    active = {**ACTIVE, "native": Backend("its scratch is on tmpfs")}
    block = plan_blocks(io_cases(), active, RunOptions())["rand-read"]
    assert block.whole_because == "the baseline cannot be sliced: its scratch is on tmpfs" and not block.whole_envs


def test_a_side_whose_slices_do_nothing_fails_with_why_and_a_few_idle_slices_are_stalls():
    def run(rates):
        return slices.run_block({"native": MeasuredWorker("native", [], [100.0]),
                                 "vm": MeasuredWorker("vm", [], rates)},
                                {"workload": "io.fio", "params": {}}, {"native": {}, "vm": {}}, 0.4, 0.05, 10.0,
                                baseline="native", estimator="pair-median")[0]["vm"]

    idle = run([0.0])
    assert idle.rate is None and idle.error == "its 8 kept slices did no measurable work"
    mostly = run([0.0, 0.0, 0.0, 5.0])
    assert mostly.rate is None and mostly.error.endswith("in most of their pairs with the baseline's")
    stalls = run([50.0, 50.0, 50.0, 0.0])
    assert stalls.rate == pytest.approx(50.0)


class LayingOut(MeasuredWorker):
    """A measured worker whose prepare takes 0.2 s (laying out its file), its start and end logged."""

    def __init__(self, name, spans):
        super().__init__(name, [], [100.0])
        self.spans = spans

    def ask(self, request, timeout):
        if request["op"] != "prepare":
            return super().ask(request, timeout)
        start = time.monotonic()
        time.sleep(0.2)
        reply = super().ask(request, timeout)
        self.spans[self.name] = (start, time.monotonic())
        return reply


@pytest.mark.parametrize("together", [False, True])
def test_prepare_together_lays_out_every_side_at_once(together):
    """With ``prepare_together`` (an I/O workload's PREPARE_TOGETHER) no side's layout comes after another's:
    the prepares overlap; without it (a cpu unit's calibration is timed alone) they do not."""
    spans = {}
    labels = ("native", "native:aa", "docker")
    parts, _ = slices.run_block({label: LayingOut(label, spans) for label in labels},
                                {"workload": "io.fio", "params": {}}, {label: {} for label in labels}, 0.2, 0.05, 10.0,
                                baseline="native", prepare_together=together)
    assert all(parts[label].rate for label in labels)
    latest_start = max(start for start, _ in spans.values())
    earliest_end = min(end for _, end in spans.values())
    assert (latest_start < earliest_end) is together


def test_fio_prepares_together_and_cpu_units_do_not():
    from vbench import catalog
    assert catalog.load("io.fio").PREPARE_TOGETHER is True
    assert not getattr(catalog.load("cpu.pyloop"), "PREPARE_TOGETHER", False)
