"""Paired slices: one block of one workload entry over every environment at once (vbench.slices), the executor
for workloads with a unit of work where every environment keeps a warm worker.

Each side's collector watches its worker (for a VM, QEMU) over the whole block, and the block's disturbance is
what ran besides all of them. The workers share one CPU (rotated by round) and vbench keeps to the others,
unless the workload says ``PIN_WORKERS = False`` (the I/O workloads: workloads/io/__init__.py says why).
"""
from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

from vbench import catalog, slices, validity
from vbench.collectors.host import HostActivity
from vbench.collectors.process import ProcessCollector
from vbench.envs.workers import WorkerPipe
from vbench.errors import VBenchError
from vbench.model import BASELINE, Case, Execution, Handle
from vbench.run.options import Bench, now
from vbench.run.record import Measurement
from workloads.run import fill_params, result_record


def execute(cases: Sequence[Case], round_index: int, bench: Bench) -> list[Measurement]:
    """One block of paired slices over ``cases`` (one entry, every environment, the cycle's order): one
    measurement per environment, in that order."""
    workers, errors, silent = warm_workers(cases, bench)
    module = catalog.load(cases[0].workload)
    params = fill_params(module, dict(cases[0].params))
    invocation = cases[0].invocation()
    cpus = sorted(os.sched_getaffinity(0))
    cpu = block_cpu(cpus, round_index) if bench.options.pin and getattr(module, "PIN_WORKERS", True) else None
    elsewhere = [c for i, c in enumerate(cpus) if i != cpu]
    if cpu is not None:
        invocation["cpu"] = cpu
    collectors = {label: ProcessCollector(bench.options.collect_interval, cases[0].workload, host=False)
                  for label in workers}
    host = HostActivity()  # once for the block: every side's worker is the block's own
    started_at = now()
    parts: dict[str, slices.Sliced] = {}
    cycles = 0
    with keep_threads_on(elsewhere):  # vbench's threads (the collectors' too) off the workers' CPU
        host.start()
        for label, collector in collectors.items():
            collector.start()
            collector.attach(Handle(pid=workers[label].pid))  # each side's worker (for a VM, QEMU)
        try:
            if BASELINE not in errors:
                fields = {label: bench.active[label].invocation_fields(invocation["workload"]) for label in workers}
                parts, cycles = slices.run_block(
                    workers, invocation, fields, slices.block_seconds(params),
                    float(getattr(module, "SLICE_S", slices.DEFAULT_SLICE_S)), bench.timeout, baseline=BASELINE,
                    estimator=getattr(module, "SLICE_ESTIMATOR", "total"),
                    prepare_together=bool(getattr(module, "PREPARE_TOGETHER", False)))
        finally:
            summaries = block_disturbance({label: c.stop() or {} for label, c in collectors.items()})
            rest = host.stop(set().union(*(c.pids for c in collectors.values())), cases[0].workload)
            for summary in summaries.values():
                summary.setdefault("disturbance", {}).update(rest)
    # A fresh worker every block: a process's memory layout biases its speed by a few percent for its whole
    # life (the A/A control showed it with workers kept for the run), so each round must draw a new one for that
    # bias to be noise the interval covers, as it is for whole trials. They close at once, as they started.
    each(lambda label: bench.active[label].drop_worker(), list(workers))
    out = []
    for case in cases:
        label = case.env.label
        env = bench.active[label]
        part = parts.get(label)
        collected: dict[str, Any] = {"psutil": summaries[label]} if label in summaries else {}
        series = {"psutil": collectors[label].series} if label in collectors else {}
        if part is None:
            error = errors.get(label) or f"the baseline's worker failed: {errors[BASELINE]}"
            timed_out = label in silent
            execution = Execution("", error if timed_out else "", 1, bench.timeout if timed_out else 0.0,
                                  timed_out=timed_out)
            out.append(Measurement(case, round_index, started_at, execution, {"ok": False, "error": error},
                                   collected, series, env.host_path(), env.trial_tags()))
            continue
        result = block_result(part, case.workload, params, module.PRIMARY, cycles, list(workers), elsewhere)
        guest_wall_s: float | None = None
        flags: tuple[str, ...] = ()
        if part.rate is not None and env.kind == "vm":  # timed by a guest clock: how far it strayed
            drift = slices.clock_drift(part)
            result["info"]["slices"]["clock_drift"] = None if drift is None else round(drift, 4)
            guest_wall_s, flags = round(sum(part.times), 6), tuple(f for f in (validity.drift_flag(drift),) if f)
        out.append(Measurement(case, round_index, started_at, block_execution(part), result, collected, series,
                               env.host_path(), env.trial_tags(), guest_wall_s, flags))
    return out


def warm_workers(cases: Sequence[Case], bench: Bench) -> tuple[dict[str, WorkerPipe], dict[str, str], set[str]]:
    """Each environment's warm worker, up and answering before the collectors start (its start-up, an exec in a
    container, is not a disturbance of the block); for those that have none, why, and which of them outlasted a
    whole trial's timeout (a timeout, as a trial's)."""
    pipes: dict[str, WorkerPipe] = {}
    errors: dict[str, str] = {}
    silent: set[str] = set()

    def warm(label: str) -> None:
        env = bench.active[label]
        start = time.monotonic()
        try:
            pipe = env.worker()
            pipe.ask({"op": "ping"}, bench.timeout)
            pipes[label] = pipe
        except VBenchError as exc:  # Unavailable, WorkerLost: this environment's part fails, with why
            env.drop_worker()
            errors[label] = f"no warm worker: {exc}"
            if time.monotonic() - start >= bench.timeout:
                silent.add(label)

    labels = [case.env.label for case in cases]
    each(warm, labels)  # at once: a block waits for its slowest worker (an emulated VM's), not for their sum
    return {label: pipes[label] for label in labels if label in pipes}, errors, silent


def each(act: Callable[[str], None], labels: list[str]) -> None:
    """``act`` on every label at once (one thread each; each environment has its own worker and channel), back
    when all are done; an exception that escapes ``act`` is raised here."""
    if len(labels) < 2:
        for label in labels:
            act(label)
        return
    with ThreadPoolExecutor(max_workers=len(labels)) as pool:
        for done in [pool.submit(act, label) for label in labels]:
            done.result()


def block_disturbance(summaries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each side's collector sees the other sides' workers as "others"; in a block they take turns by design,
    so the block's disturbance is what ran besides every worker and vbench, the same for every side."""
    trees = {label: (s.get("cpu_user_s") or 0) + (s.get("cpu_system_s") or 0) for label, s in summaries.items()}
    for label, summary in summaries.items():
        figures = summary.get("disturbance") or {}
        if figures.get("others_cpu_s") is None:
            continue
        others = max(0.0, figures["others_cpu_s"] - sum(v for k, v in trees.items() if k != label))
        figures["others_cpu_s"] = round(others, 4)
        figures["others_cores"] = round(others / figures["wall_s"], 4) if figures.get("wall_s") else None
    return summaries


def block_execution(part: slices.Sliced) -> Execution:
    """The transport's view of one environment's part of a block, as a whole trial's would be."""
    if part.rate is None:
        return Execution("", (part.error or "") if part.timed_out else "", 1, part.host_wall_s,
                         timed_out=part.timed_out)
    return Execution("", "", 0, part.host_wall_s)


def block_result(part: slices.Sliced, workload: str, params: dict[str, Any], primary: str, cycles: int,
                 order: list[str], vbench_cpus: list[int]) -> dict[str, Any]:
    """One environment's part of a block as the workload's record of a whole trial would be."""
    if part.rate is None:
        return {"ok": False, "error": part.error}
    info = part.info(cycles, order)
    primary = info.pop("primary", primary)  # a unit whose primary metric depends on its parameters (io.fio)
    record: dict[str, Any] = {
        **result_record(workload, params, {primary: part.rate}, sum(part.times), catalog.load(workload)),
        **part.accounting(), "primary": primary}
    record["info"] = info
    record["info"]["slices"]["vbench_affinity"] = vbench_cpus
    return record


def block_cpu(cpus: list[int], round_index: int) -> int | None:
    """Which of vbench's CPUs a block's workers are pinned to (an index into ``cpus``): rotated by round, so
    that an asymmetry between cores cancels; None with one CPU (nothing to keep vbench apart from)."""
    return round_index % len(cpus) if len(cpus) > 1 else None


@contextlib.contextmanager
def keep_threads_on(cpus: list[int]) -> Iterator[None]:
    """Every thread of this process (and those it starts meanwhile) on ``cpus`` only, then back as they were."""
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    before = {}
    for tid in tids:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, set(cpus))
    try:
        yield
    finally:
        for tid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)
