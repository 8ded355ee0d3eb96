"""A measurement, and the one pure function that turns it into a trial record.

Every executor (:mod:`vbench.run.whole`, :mod:`vbench.run.sliced`) returns one :class:`Measurement` per
environment: what the environment's transport saw (an :class:`~vbench.model.Execution`), the workload's record
(the guest-side runner's JSON line, or the one a sliced block builds), the collectors' figures and what the
environment knows of its host path. :func:`to_trial` joins them once, flags included, into the frozen
:class:`~vbench.model.Trial` that goes into trials.jsonl.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from vbench import validity
from vbench.model import Case, Execution, Metric, Trial
from vbench.plan import trial_id


@dataclass(frozen=True)
class Measurement:
    """One environment's part of a trial as measured, before it is a Trial."""

    case: Case
    round_index: int
    started_at: str
    execution: Execution  # the transport's view: exit status, stderr, the host's clock, a timeout or its failure
    result: Mapping[str, Any] | None  # the workload's record (workloads/run.py's JSON line), None without one
    collected: Mapping[str, Any] = field(default_factory=dict)  # collector name -> its summary of the trial
    series: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)  # collector name -> its samples
    host_path: validity.HostPath | None = None  # what the environment knows the host does with its I/O
    tags: Mapping[str, Any] = field(default_factory=dict)  # facts of the environment (a VM's accelerator)
    guest_wall_s: float | None = None  # the far end's own timing of the run (a guest agent's clock)
    flags: tuple[str, ...] = ()  # the executor's own findings (a sliced VM block's clock drift)

    @property
    def trial_id(self) -> str:
        return trial_id(self.round_index, self.case)

    @classmethod
    def of_execution(cls, case: Case, round_index: int, started_at: str, execution: Execution,
                     collected: Mapping[str, Any] | None = None, **more: Any) -> "Measurement":
        """A whole trial's measurement: the workload's record is the last JSON line of the execution's stdout,
        the far end's timing its own."""
        return cls(case, round_index, started_at, execution, execution.result(), collected or {},
                   guest_wall_s=execution.far_wall_s, **more)


def to_trial(m: Measurement, seq: int, run_id: str | None = None, samples: str | None = None) -> Trial:
    """The trial record of ``m``, the ``seq``-th of its run (pure)."""
    result = m.result or {}
    status, error = status_of(m.execution, result)
    info = dict(result.get("info", {}))
    collected = with_reasons(m.case.workload, dict(m.collected))
    flags = [*result.get("flags", []), *host_flags(m.case.workload, info, collected, m.execution), *m.flags]
    metrics = result.get("metrics", {}) if status == "ok" else {}
    return Trial(
        trial_id=m.trial_id, round=m.round_index, warmup=m.round_index < 0, seq=seq, case=m.case.name,
        workload=m.case.workload, params=result.get("params", dict(m.case.params)), environment=m.case.env.label,
        env_kind=m.case.env.kind, variant=m.case.env.variant, status=status, error=error, started_at=m.started_at,
        host_wall_s=round(m.execution.host_wall_s, 6), guest_duration_s=result.get("duration_s"),
        guest_wall_s=m.guest_wall_s,
        metrics={name: Metric(v["value"], v["unit"], v["higher_is_better"]) for name, v in metrics.items()},
        primary=result.get("primary"), flags=tuple(flags), info=with_io_path(info, m.host_path),
        guest={k: result.get(k) for k in ("cpu", "rusage", "diskstats", "guest")}, collectors=collected,
        stderr_tail=m.execution.stderr[-2000:] if status != "ok" else "", run_id=run_id, samples=samples,
        **m.tags)


def host_flags(workload: str, info: Mapping[str, Any], collected: Mapping[str, Any],
               execution: Execution) -> list[str]:
    """The flags the host's view gives a trial (vbench.validity), in a fixed order."""
    psutil_summary = collected.get("psutil", {})
    found = (validity.page_cache_flag(info, own_read_bytes(collected)), validity.counters_flag(collected),
             validity.clock_flag(execution), validity.disturbance_flag(workload, psutil_summary.get("disturbance")))
    return [flag for flag in found if flag]


def with_reasons(workload: str, collected: dict[str, Any]) -> dict[str, Any]:
    """``collected`` with the psutil collector's disturbance figures carrying why the trial counts as having
    shared the host (``reasons``), when it does."""
    psutil_summary = collected.get("psutil") or {}
    figures = psutil_summary.get("disturbance") or {}
    reasons = validity.disturbance_reasons(workload, figures)
    if reasons:
        collected["psutil"] = {**psutil_summary, "disturbance": {**figures, "reasons": reasons}}
    return collected


def with_io_path(info: dict[str, Any], path: validity.HostPath | None) -> dict[str, Any]:
    """``info`` with an io_mode that says what happened end to end: the workload's own mode (kept as
    ``workload_io_mode``) joined with what the environment knows the host does with it (``host_path``)."""
    if path is None or not info.get("io_mode"):
        return info
    return {**info, "workload_io_mode": info["io_mode"], "host_path": path.what,
            "io_mode": validity.end_to_end(info["io_mode"], path)}


def own_read_bytes(collected: Mapping[str, Any]) -> int | None:
    """What the trial's own processes fetched from storage: its process tree (natively and in a container the
    workload's processes, for a VM QEMU) and its helpers (virtiofsd); None when any of them is unknown. The
    host's disk counters are not used: every other process on the host moves them."""
    parts: list[Mapping[str, Any]] = [collected[name] for name in ("psutil", "helpers") if collected.get(name)]
    if not parts or any(part.get("read_bytes") is None for part in parts):
        return None
    return sum(int(part["read_bytes"]) for part in parts)


def status_of(execution: Execution, result: Mapping[str, Any]) -> tuple[str, str | None]:
    """A trial's status (ok, failed or timeout) and, unless ok, why."""
    if execution.error:
        return "failed", execution.error[:1000]
    if execution.timed_out:
        why = execution.stderr.strip().splitlines()[:1]
        return "timeout", f"no result within the timeout ({execution.host_wall_s:.0f}s)" + \
            (f": {why[0][:500]}" if why else "")
    if result.get("ok") and execution.returncode == 0:
        return "ok", None
    if result.get("error"):
        return "failed", str(result["error"])
    tail = execution.stderr.strip().splitlines()[-1:] or [f"exit status {execution.returncode}"]
    return "failed", tail[0][:500]
