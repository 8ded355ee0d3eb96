"""The run: provision the environments, execute the plan's trials interleaved, collect, store, decide when to stop.

This is the host side. Each trial asks an environment to execute the one guest-side runner
(``workloads/run.py``) while the collectors watch; the trial record joins the runner's JSON with the host's view.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, Sequence

from vbench import __version__, catalog, slices, stats, validity
from vbench import envs as registry
from vbench.collectors.cgroup import CgroupCollector
from vbench.collectors.process import HelperCollector, ProcessCollector
from vbench.envs.base import Availability, Context, Environment, describe
from vbench.errors import Unavailable, VBenchError
from vbench.fingerprint import host_fingerprint
from vbench.ledger import owner, owner_alive
from vbench.model import AA_CONTROL, BASELINE, Case, EnvOptions, EnvSpec, Execution, Handle, Metric, RunMeta, Trial
from vbench.plan import build_cases, next_round, round_order, trial_id
from vbench.store import RunStore, iter_trials, new_run_id, run_dir
from vbench.suite import Suite, suite_from_dict
from workloads.run import fill_params, result_record

# A read figure is flagged when the trial's own processes fetched from storage less than this share of the bytes
# the workload read.
PAGE_CACHE_TOLERANCE = 0.9
COUNTER_TOLERANCE = 0.05  # the Engine API's and the cgroup's block I/O bytes of one trial
CLOCK_TOLERANCE = 0.05
# A cpu or mem trial is flagged when other processes took more than this share of one CPU on average over it,
# or the hypervisor stole more than this share of the host's CPU time: the trial then shared the machine.
OTHERS_LIMIT_CORES = 0.25
STEAL_LIMIT_PCT = 5.0
DISTURBABLE_KINDS = ("cpu", "mem")


@dataclass(frozen=True)
class RunOptions:
    results_dir: Path = Path("results")
    scratch_root: str = "/var/tmp/vbench"
    seed: int | None = None
    collect_interval: float = 0.1
    env_options: EnvOptions = field(default_factory=EnvOptions)  # the containers' and VMs' options
    run_id: str | None = None  # the run's id (its directory's name); by default a new one from the suite and time
    aa_control: bool = True  # measure native:aa, the A/A control, beside the baseline
    slices: bool = True  # sliceable workloads run as paired slices (vbench.slices) where every environment can
    pin: bool = True  # a sliced block pins every worker to one CPU (rotated by round) and vbench to the others


class Progress(Protocol):
    def started(self, run_dir: Path, planned_trials: int) -> None: ...
    def skipped(self, count: int) -> None: ...
    def trial_started(self, case: Case, round_index: int, where: str | None = None) -> None: ...
    def trial_finished(self, trial: Trial) -> None: ...
    def replanned(self, planned_trials: int, reason: str) -> None: ...
    def note(self, text: str) -> None: ...


class Silent:
    """A Progress that says nothing (tests, the Python API)."""

    def started(self, run_dir, planned_trials): pass
    def skipped(self, count): pass
    def trial_started(self, case, round_index, where=None): pass
    def trial_finished(self, trial): pass
    def replanned(self, planned_trials, reason): pass
    def note(self, text): pass


@dataclass
class _Tally:
    """Primary-metric values of measured ok trials, per (entry, environment) and round, for the adaptive decision
    (made with the same paired estimator as the overhead table)."""

    values: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    operations: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def add(self, trial: Trial) -> None:
        metric = trial.primary_metric
        if trial.warmup or trial.status != "ok" or metric is None:
            return
        self.values.setdefault((trial.case, trial.environment), {})[trial.round] = metric.value
        self.higher_is_better[trial.case] = metric.higher_is_better
        self.operations.setdefault((trial.case, trial.environment), set()).add(
            validity.operation(trial.info, trial.params))

    def half_widths(self, cases: Sequence[Case]) -> dict[str, float]:
        widths = {}
        for case in cases:
            if case.env.label == BASELINE:
                continue
            base = self.values.get((case.name, BASELINE), {})
            other = self.values.get((case.name, case.env.label), {})
            if validity.mismatch(self.operations.get((case.name, BASELINE), set()),
                                 self.operations.get((case.name, case.env.label), set())):
                continue  # not comparable: more rounds cannot make it so
            hib = self.higher_is_better.get(case.name, True)
            widths[case.case_id] = stats.paired_overhead(base, other, hib).half_width
        return widths


def resolve_environments(suite: Suite, requested: Sequence[str] | None, env_options: EnvOptions | None = None,
                         say=lambda text: None, aa_control: bool = False) -> tuple[list[EnvSpec], dict[str, str]]:
    """The environments to run and, for defaults that cannot run here, why they were skipped.

    An environment the user asked for by name must be available; one from the suite's defaults is skipped with
    its reason. The baseline always runs first in the list, then (with ``aa_control``) the A/A control. Each
    environment's preflight (a VM's KVM probe) runs here, before anything is provisioned.
    """
    explicit = requested is not None
    names = list(requested if explicit else suite.environments)
    specs, skipped = [], {}
    for name in names:
        spec, cls = registry.resolve(name)
        availability = cls.available_variant(spec.variant)
        if availability.ok:
            availability = _preflight(cls, spec, env_options or EnvOptions(), say)
        if not availability.ok:
            if explicit:
                raise VBenchError(f"environment {spec.label} is unavailable: {availability.reason}")
            skipped[spec.label] = availability.reason
            continue
        if spec not in specs:
            specs.append(spec)
    if EnvSpec(BASELINE) not in specs:
        specs.insert(0, EnvSpec(BASELINE))
    control = EnvSpec.parse(AA_CONTROL)
    if aa_control and control not in specs:
        specs.insert(1, control)
    specs.sort(key=lambda s: (s.label != BASELINE, s.label != AA_CONTROL))
    return specs, skipped


def _preflight(cls, spec: EnvSpec, env_options: EnvOptions, say) -> Availability:
    try:
        cls.preflight(spec, env_options, say)
    except Unavailable as exc:
        return Availability(False, str(exc))
    return Availability(True, "preflight passed")


def run_suite(suite: Suite, requested_envs: Sequence[str] | None, options: RunOptions,
              progress: Progress | None = None) -> Path:
    """Run ``suite`` and return the run directory. KeyboardInterrupt stops it with every finished trial kept."""
    progress = progress or Silent()
    specs, skipped = resolve_environments(suite, requested_envs, options.env_options, progress.note,
                                          options.aa_control)
    plan = suite.plan
    seed = options.seed if options.seed is not None else plan.seed
    seed = seed if seed is not None else secrets.randbits(32)
    meta = RunMeta(
        vbench_version=__version__, started_at=_now(), status="running", suite=suite.to_dict(), seed=seed,
        baseline=BASELINE, owner=owner(), environments=tuple(s.label for s in specs), skipped_environments=skipped,
        named_environments=requested_envs is not None, env_options=options.env_options,
        scratch_root=options.scratch_root, host=host_fingerprint(options.scratch_root),
        rounds={"planned_min": plan.min_rounds, "max": plan.max_rounds, "done": 0})
    store = RunStore.create(options.results_dir, options.run_id or new_run_id(suite.name), meta)
    return _execute(suite, specs, store, meta, options, progress, [])


def resume_run(run: str | Path, progress: Progress | None = None) -> Path:
    """Finish an interrupted run in place: the same suite, environments, seed and order; finished trials kept."""
    store = RunStore(run_dir(run))
    meta = store.read_meta()
    if meta.status == "complete":
        raise VBenchError(f"{store.dir.name} is already complete; nothing to resume")
    holder = meta.owner or {}
    if holder and owner_alive(holder):
        raise VBenchError(f"{store.dir.name} is still running (pid {holder.get('pid')})")
    suite = suite_from_dict(meta.suite)
    specs = [registry.resolve(label)[0] for label in meta.environments]
    options = RunOptions(store.dir.parent, meta.scratch_root or RunOptions.scratch_root,
                         env_options=meta.env_options or EnvOptions())
    progress = progress or Silent()
    for spec in specs:
        cls = registry.env_class(spec.kind)
        availability = cls.available_variant(spec.variant)
        if availability.ok:
            availability = _preflight(cls, spec, options.env_options, progress.note)
        if not availability.ok:
            raise VBenchError(f"cannot resume: environment {spec.label} is unavailable: {availability.reason}")
    # resuming asks for exactly the run's environments
    meta = dataclasses.replace(meta, named_environments=True, status="running", owner=owner(),
                               resumed_at=(*(meta.resumed_at or ()), _now()))
    store.repair_tail()
    return _execute(suite, specs, store, meta, options, progress, list(iter_trials(store.dir)))


class _Record:
    """The run's RunMeta as the run goes: the model is frozen, so each change replaces it; ``write`` stores it."""

    def __init__(self, store: RunStore, meta: RunMeta):
        self.store, self.meta = store, meta

    def update(self, **changes) -> None:
        self.meta = dataclasses.replace(self.meta, **changes)

    def write(self) -> None:
        self.store.write_meta(self.meta)


def _execute(suite: Suite, specs: list[EnvSpec], store: RunStore, meta: RunMeta, options: RunOptions,
             progress: Progress, finished: list[Trial]) -> Path:
    context = Context(store.dir.name, options.scratch_root, options.env_options)
    active: dict[str, Environment] = {}
    record = _Record(store, meta)
    with contextlib.ExitStack() as stack:
        try:
            for spec in specs:
                env = _provision(stack, spec, context, record, progress)
                if env is not None:
                    active[spec.label] = env
            record.update(environments=tuple(active),
                          env_fingerprints={label: _fingerprint(env) for label, env in active.items()})
            record.write()
            _Session(build_cases(suite, [s for s in specs if s.label in active]), active, suite.plan, meta.seed,
                     store, record, options, progress, finished).run()
            record.update(status="complete")
        except KeyboardInterrupt:
            record.update(status="interrupted")
            raise
        except BaseException as exc:
            record.update(status=f"failed: {exc}")
            raise
        finally:
            stack.close()  # tear down before the final meta, so teardown times are in it
            record.update(ended_at=_now(),
                          lifecycles={label: env.lifecycle.to_dict() for label, env in active.items()})
            record.write()
    return store.dir


def _provision(stack: contextlib.ExitStack, spec: EnvSpec, context: Context, record: _Record,
               progress: Progress) -> Environment | None:
    """``spec`` provisioned, or None when it failed and was one of the suite's defaults (skipped, with why);
    a failure of the baseline or of an environment the user named ends the run with a one-line error."""
    try:
        return stack.enter_context(registry.env_class(spec.kind)(spec, context))
    except VBenchError as exc:
        if spec.label == BASELINE or record.meta.named_environments:
            raise
        record.update(skipped_environments={**(record.meta.skipped_environments or {}),
                                            spec.label: f"failed to start: {exc}"})
        progress.note(f"skipped {spec.label}: it failed to start: {exc}")
        return None


def _fingerprint(env: Environment) -> dict:
    """The environment's fingerprint; one the backend cannot read (a daemon gone quiet) says why instead."""
    try:
        return env.fingerprint()
    except Exception as exc:
        return {"kind": env.kind, "variant": env.spec.variant, "fingerprint_error": describe(exc)}


class _Session:
    """The plan being carried out: warmups, then measured rounds until the stopping rule says enough.

    Trials already in the store (a resumed run) are not run again; the order of every round is the seed's, so a
    resumed run continues exactly where the interrupted one stopped.
    """

    def __init__(self, cases, active, plan, seed, store, record: _Record, options, progress, finished: list[Trial]):
        self.cases, self.active, self.plan, self.seed = cases, active, plan, seed
        self.store, self.record, self.options, self.progress = store, record, options, progress
        self.done_ids = {t.trial_id for t in finished}
        self.seq = len(finished)
        self.tally = _Tally()
        for trial in finished:
            self.tally.add(trial)

    def run(self) -> None:
        per_round, plan = len(self.cases), self.plan
        self.progress.started(self.store.dir, per_round * (plan.warmup_rounds + plan.min_rounds))
        self.progress.skipped(len(self.done_ids))
        t0, round_seconds, decisions = time.monotonic(), [], list(self.record.meta.rounds.get("decisions", []))
        for warm in range(-plan.warmup_rounds, 0):
            self.run_round(warm)
        done = 0
        while True:
            start = time.monotonic()
            ran = self.run_round(done + 1)
            done += 1
            if ran:
                round_seconds.append(time.monotonic() - start)
            decision = next_round(plan, done, time.monotonic() - t0, round_seconds,
                                  self.tally.half_widths(self.cases))
            decisions.append({"after_round": done, "more": decision.more, "reason": decision.reason})
            self.record.update(rounds={**self.record.meta.rounds, "done": done, "decisions": list(decisions)})
            self.record.write()
            if not decision.more:
                self.record.update(rounds={**self.record.meta.rounds, "stop_reason": decision.reason})
                return
            if done >= plan.min_rounds:
                self.progress.replanned(per_round * (plan.warmup_rounds + done + 1), decision.reason)

    def run_round(self, round_index: int) -> int:
        """Run the round's trials that are not done yet; how many ran."""
        ran, blocks_done = 0, set()
        order = round_order(self.cases, self.seed, round_index)
        for case in order:
            if trial_id(round_index, case) in self.done_ids:
                continue
            if self.slicing(case.name) is None:
                if case.name not in blocks_done:
                    blocks_done.add(case.name)
                    ran += self.run_sliced([c for c in order if c.name == case.name], round_index)
                continue
            self.progress.trial_started(case, round_index)
            self.keep(run_trial(self.active[case.env.label], case, round_index, self.seq, self.plan.timeout_s,
                                self.store, self.options))
            ran += 1
        return ran

    def keep(self, trial: Trial) -> None:
        """Store a finished trial (fsynced before the next starts), count it for the stopping rule, show it."""
        trial = dataclasses.replace(trial, seq=self.seq)
        self.store.append_trial(trial)
        self.tally.add(trial)
        self.progress.trial_finished(trial)
        self.seq += 1

    def slicing(self, name: str) -> str | None:
        """None when the entry ``name`` runs as paired slices; else why it runs as whole trials (kept in the
        run's meta, ``slicing``)."""
        table = self.record.meta.slicing or {}
        if name not in table:
            table = {**table, name: slicing_reason([c for c in self.cases if c.name == name], self.active,
                                                   self.options)}
            self.record.update(slicing=table)
        return table[name]

    def run_sliced(self, group: list[Case], round_index: int) -> int:
        """One block of paired slices over every environment of ``group`` (one entry); its trials stored."""
        self.progress.trial_started(group[0], round_index,
                                    where=" + ".join(c.env.label for c in group) + " (paired slices)")
        trials = run_block_trials(group, self.active, round_index, self.seq, self.plan.timeout_s, self.store,
                                  self.options)
        ran = 0
        for trial in trials:
            if trial.trial_id in self.done_ids:
                continue  # a resumed block: the baseline ran again for calibration, its stored trial stands
            self.keep(trial)
            ran += 1
        return ran


def slicing_reason(group: list[Case], active: dict[str, Environment], options: RunOptions) -> str | None:
    """Why one entry's cases cannot run as paired slices here, or None when they can."""
    if not options.slices:
        return "slicing turned off (--no-slices)"
    module = catalog.load(group[0].workload)
    if not hasattr(module, "unit"):
        return f"{group[0].workload} has no unit of work to slice"
    if BASELINE not in {c.env.label for c in group}:
        return "no baseline in the block"
    for case in group:
        env = active[case.env.label]
        if type(env).open_worker is Environment.open_worker:
            return f"{case.env.label} cannot keep a warm worker"
    return None


def run_block_trials(group: list[Case], active: dict[str, Environment], round_index: int, seq: int,
                     timeout: float, store: RunStore, options: RunOptions) -> list[dict]:
    """The trial records of one block of paired slices (vbench.slices): one per environment, in ``group``'s
    order; each side's collector watches its worker (for a VM, QEMU) over the whole block, and the block's
    disturbance is what ran besides all of them."""
    workers, errors, silent = {}, {}, set()
    for case in group:
        env = active[case.env.label]
        start = time.monotonic()
        try:
            pipe = env.worker()
            pipe.ask({"op": "ping"}, timeout)  # up and answering before the collectors start: its start-up
            workers[case.env.label] = pipe     # (an exec in a container) is not a disturbance of the block
        except VBenchError as exc:  # Unavailable, WorkerLost: this environment's part fails, with why
            env.drop_worker()
            errors[case.env.label] = f"no warm worker: {exc}"
            if time.monotonic() - start >= timeout:
                silent.add(case.env.label)  # it outlasted a whole trial's timeout: a timeout, as a trial's
    module = catalog.load(group[0].workload)
    params = fill_params(module, dict(group[0].params))
    invocation = group[0].invocation()
    cpus = sorted(os.sched_getaffinity(0))
    cpu = block_cpu(cpus, round_index) if options.pin else None
    elsewhere = [c for i, c in enumerate(cpus) if i != cpu]
    if cpu is not None:
        invocation["cpu"] = cpu
    collectors = {label: ProcessCollector(options.collect_interval) for label in workers}
    started_at = _now()
    with keep_threads_on(elsewhere):  # vbench's threads (the collectors' too) off the workers' CPU
        for label, collector in collectors.items():
            collector.start()
            collector.attach(Handle(pid=workers[label].pid))  # each side's worker (for a VM, QEMU)
        try:
            if BASELINE in errors:
                parts, cycles = {}, 0
            else:
                fields = {label: active[label].invocation_fields(invocation["workload"]) for label in workers}
                parts, cycles = slices.run_block(
                    workers, invocation, fields, float(params.get("seconds", 1.0)),
                    float(getattr(module, "SLICE_S", slices.DEFAULT_SLICE_S)), timeout, baseline=BASELINE)
        finally:
            summaries = block_disturbance({label: c.stop() for label, c in collectors.items()})
    for label in workers:
        # A fresh worker every block: a process's memory layout biases its speed by a few percent for its whole
        # life (the A/A control showed it with workers kept for the run), so each round must draw a new one
        # for that bias to be noise the interval covers, as it is for whole trials.
        active[label].drop_worker()
    trials = []
    for case in group:
        label = case.env.label
        part = parts.get(label)
        if part is None:
            error = errors.get(label) or f"the baseline's worker failed: {errors[BASELINE]}"
            execution = Execution(json.dumps({"ok": False, "error": error}), error if label in silent else "", 1,
                                  timeout if label in silent else 0.0, timed_out=label in silent)
        else:
            execution = block_execution(part, case.workload, params, module.PRIMARY, cycles, list(workers),
                                        elsewhere)
        tid = trial_id(round_index, case)
        collected = {"psutil": summaries[label]} if label in summaries else {}
        trial = trial_record(execution, case, tid, round_index, seq, started_at, collected)
        if part is not None and part.rate is not None and active[label].kind == "vm":  # timed by a guest clock
            drift = slices.clock_drift(part)
            info = {**trial.info, "slices": {**trial.info["slices"],
                                             "clock_drift": None if drift is None else round(drift, 4)}}
            late = ("clock-disagree",) if drift is not None and abs(drift) > CLOCK_TOLERANCE else ()
            trial = dataclasses.replace(trial, guest_wall_s=round(sum(part.times), 6), info=info,
                                        flags=trial.flags + late)
        samples = store.write_samples(tid, {"psutil": collectors[label].series} if label in collectors else {})
        trials.append(dataclasses.replace(mark_io_path(trial, active[label].host_path()), run_id=store.dir.name,
                                          samples=samples, **active[label].trial_tags()))
    return trials


def block_disturbance(summaries: dict[str, dict]) -> dict[str, dict]:
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


def block_execution(part: slices.Sliced, workload: str, params: dict, primary: str, cycles: int,
                    order: list[str], vbench_cpus: list[int]) -> Execution:
    """One environment's part of a block as the runner's record would have come back from a whole trial."""
    if part.rate is None:
        stderr = part.error if part.timed_out else ""
        return Execution(json.dumps({"ok": False, "error": part.error}), stderr or "", 1, part.host_wall_s,
                         timed_out=part.timed_out)
    record = {**result_record(workload, params, {primary: part.rate}, sum(part.times), catalog.load(workload)),
              **part.accounting()}
    record["info"] = part.info(cycles, order)
    record["info"]["slices"]["vbench_affinity"] = vbench_cpus
    return Execution(json.dumps(record), "", 0, part.host_wall_s)


def block_cpu(cpus: list[int], round_index: int) -> int | None:
    """Which of vbench's CPUs a block's workers are pinned to (an index into ``cpus``): rotated by round, so
    that an asymmetry between cores cancels; None with one CPU (nothing to keep vbench apart from)."""
    return round_index % len(cpus) if len(cpus) > 1 else None


@contextlib.contextmanager
def keep_threads_on(cpus: list[int]):
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


def run_trial(env: Environment, case: Case, round_index: int, seq: int, timeout: float, store: RunStore,
              options: RunOptions) -> dict:
    """Execute one trial with the collectors running; the record that goes into trials.jsonl."""
    tid = trial_id(round_index, case)
    collectors = [ProcessCollector(options.collect_interval), CgroupCollector(options.collect_interval),
                  HelperCollector(options.collect_interval)]
    started_at = _now()
    engine_before = env.counters()
    for collector in collectors:
        collector.start()
    try:
        execution = env.execute(case.invocation(), timeout,
                                on_start=lambda handle: [c.attach(handle) for c in collectors])
    finally:
        summaries = {c.name: c.stop() for c in collectors}
    engine = _engine_delta(engine_before, env.counters())
    if engine:
        summaries["engine"] = engine
    trial = trial_record(execution, case, tid, round_index, seq, started_at,
                         {k: v for k, v in summaries.items() if v is not None})
    samples = store.write_samples(tid, {c.name: c.series for c in collectors if c.series})
    return dataclasses.replace(mark_io_path(trial, env.host_path()), run_id=store.dir.name, samples=samples,
                               **env.trial_tags())


def failure_of(run: Path) -> str | None:
    """Why the run measured nothing, when every measured trial failed (or none ran); None when any succeeded."""
    measured = [t for t in iter_trials(run) if not t.warmup]
    if any(t.status == "ok" for t in measured):
        return None
    if not measured:
        return "no measured trial ran"
    reason, count = Counter(t.error or t.status for t in measured).most_common(1)[0]
    return f"every measured trial failed ({len(measured)}); the most common reason ({count}): {reason}"


def _engine_delta(before: dict | None, after: dict | None) -> dict | None:
    """What the environment's own API counted over the trial (the Engine API's stats for containers)."""
    if not before or not after:
        return None
    return {k: after[k] - before[k] for k in after if k in before}


def trial_record(execution: Execution, case: Case, tid: str, round_index: int, seq: int, started_at: str,
                 collected: dict) -> Trial:
    """Join the runner's JSON line with the host's view into one trial record (pure)."""
    result = execution.result() or {}
    status, error = _status(execution, result)
    info = result.get("info", {})
    flags = list(result.get("flags", []))
    psutil_summary = collected.get("psutil", {})
    for flag in (page_cache_flag(info, own_read_bytes(collected)), counters_flag(collected), clock_flag(execution),
                 disturbance_flag(case.workload, psutil_summary.get("disturbance"))):
        if flag:
            flags.append(flag)
    metrics = result.get("metrics", {}) if status == "ok" else {}
    return Trial(
        trial_id=tid, round=round_index, warmup=round_index < 0, seq=seq, case=case.name, workload=case.workload,
        params=result.get("params", dict(case.params)), environment=case.env.label, env_kind=case.env.kind,
        variant=case.env.variant, status=status, error=error, started_at=started_at,
        host_wall_s=round(execution.host_wall_s, 6), guest_duration_s=result.get("duration_s"),
        guest_wall_s=execution.far_wall_s,
        metrics={name: Metric(m["value"], m["unit"], m["higher_is_better"]) for name, m in metrics.items()},
        primary=result.get("primary"), flags=tuple(flags), info=info,
        guest={k: result.get(k) for k in ("cpu", "rusage", "diskstats", "guest")}, collectors=collected,
        stderr_tail=execution.stderr[-2000:] if status != "ok" else "")


def mark_io_path(trial: Trial, path: validity.HostPath | None) -> Trial:
    """The trial with an io_mode that says what happened end to end: the workload's own mode (kept as
    ``workload_io_mode``) joined with what the environment knows the host does with it (``host_path``)."""
    info = trial.info
    if path is None or not info.get("io_mode"):
        return trial
    return dataclasses.replace(trial, info={**info, "workload_io_mode": info["io_mode"], "host_path": path.what,
                                            "io_mode": validity.end_to_end(info["io_mode"], path)})


def own_read_bytes(collected: dict) -> int | None:
    """What the trial's own processes fetched from storage: its process tree (natively and in a container the
    workload's processes, for a VM QEMU) and its helpers (virtiofsd); None when any of them is unknown. The
    host's disk counters are not used: every other process on the host moves them."""
    parts = [collected.get(name) for name in ("psutil", "helpers") if collected.get(name)]
    if not parts or any(part.get("read_bytes") is None for part in parts):
        return None
    return sum(part["read_bytes"] for part in parts)


def counters_flag(collected: dict) -> str | None:
    """'io-counters-disagree' when the Engine API's block I/O figures for a container's trial and its cgroup's
    differ by more than 5% (and 1 MiB): two views of one counter, so one of them is not what it seems."""
    cgroup, engine = collected.get("cgroup") or {}, collected.get("engine") or {}
    for key in ("io_read_bytes", "io_write_bytes"):
        a, b = cgroup.get(key), engine.get(key)
        if a is None or b is None:
            continue
        if abs(a - b) > max(COUNTER_TOLERANCE * max(a, b), 1 << 20):
            return "io-counters-disagree"
    return None


def page_cache_flag(info: dict, storage_read_bytes: int | None) -> str | None:
    """'page-cache-read' when a workload read more bytes than its own processes fetched from storage during the
    trial; 'page-cache-unknown' when it read and that figure is unknown."""
    requested = info.get("read_bytes") or 0
    if requested <= 0:
        return None
    if storage_read_bytes is None:
        return "page-cache-unknown"
    if storage_read_bytes < PAGE_CACHE_TOLERANCE * requested:
        return "page-cache-read"
    return None


def disturbance_flag(workload: str, disturbance: dict | None) -> str | None:
    """'host-disturbed' when a cpu or mem trial shared the host: others took more than OTHERS_LIMIT_CORES of a
    CPU, or steal exceeded STEAL_LIMIT_PCT. I/O and network trials are not judged: kernel threads and daemons
    (virtiofsd, docker-proxy, the block layer's workers) do their work for them outside their process tree."""
    if not disturbance or workload.split(".")[0] not in DISTURBABLE_KINDS:
        return None
    others = disturbance.get("others_cores")
    if (others is not None and others > OTHERS_LIMIT_CORES) or disturbance.get("steal_pct", 0) > STEAL_LIMIT_PCT:
        return "host-disturbed"
    return None


def clock_flag(execution: Execution) -> str | None:
    """'clock-disagree' when the guest's and the host's measure of one run differ by more than 5% (and 50 ms):
    guest clocks drift under emulation, so a guest-timed figure is then suspect."""
    guest, host = execution.far_wall_s, execution.host_wall_s
    if guest is None or host <= 0:
        return None
    if abs(host - guest) > max(CLOCK_TOLERANCE * host, 0.05):
        return "clock-disagree"
    return None


def _status(execution: Execution, result: dict) -> tuple[str, str | None]:
    if execution.error:
        return "failed", execution.error[:1000]
    if execution.timed_out:
        why = execution.stderr.strip().splitlines()[:1]
        return "timeout", f"no result within the timeout ({execution.host_wall_s:.0f}s)" + \
            (f": {why[0][:500]}" if why else "")
    if result.get("ok") and execution.returncode == 0:
        return "ok", None
    if result.get("error"):
        return "failed", result["error"]
    tail = execution.stderr.strip().splitlines()[-1:] or [f"exit status {execution.returncode}"]
    return "failed", tail[0][:500]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
