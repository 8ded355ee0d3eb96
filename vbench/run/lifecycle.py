"""A run's life: check the environments, provision them, write run.json, carry out the session, tear down.

Starting and resuming share one environment check (``check_environment``): an environment the user named must be
available and pass its preflight (a VM's KVM probe) before anything is provisioned; one of the suite's defaults
that cannot run here is skipped with its reason.
"""
from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from vbench import __version__, catalog, history, hostlock
from vbench.diskspace import NoSpace, check_free
from vbench import envs as registry
from vbench.envs.base import Availability, Context, Environment, describe
from vbench.errors import Unavailable, VBenchError
from vbench.fingerprint import host_fingerprint
from vbench.ledger import owner, owner_alive
from vbench.model import AA_CONTROL, BASELINE, EnvOptions, EnvSpec, RunMeta, Trial
from vbench.plan import build_cases
from vbench.run.options import Bench, Progress, RunOptions, Silent, now
from vbench.run.session import RunRecord, Session
from vbench.store import RunStore, iter_trials, new_run_id, run_dir
from vbench.suite import Suite, suite_from_dict

Say = Callable[[str], None]


def check_environment(spec: EnvSpec, env_options: EnvOptions, say: Say) -> Availability:
    """Whether ``spec`` can run here: its kind and variant available, then its preflight passed."""
    cls = registry.env_class(spec.kind)
    availability = cls.available_variant(spec.variant)
    if not availability.ok:
        return availability
    try:
        cls.preflight(spec, env_options, say)
    except Unavailable as exc:
        return Availability(False, str(exc))
    return Availability(True, "preflight passed")


def resolve_environments(suite: Suite, requested: Sequence[str] | None, env_options: EnvOptions | None = None,
                         say: Say = lambda text: None,
                         aa_control: bool = False) -> tuple[list[EnvSpec], dict[str, str]]:
    """The environments to run and, for defaults that cannot run here, why they were skipped.

    An environment the user asked for by name must be available; one from the suite's defaults is skipped with
    its reason. The baseline always runs first in the list, then (with ``aa_control``) the A/A control. Each
    environment's preflight (a VM's KVM probe) runs here, before anything is provisioned.
    """
    explicit = requested is not None
    names = list(requested if requested is not None else suite.environments)
    specs: list[EnvSpec] = []
    skipped: dict[str, str] = {}
    for name in names:
        spec, _ = registry.resolve(name)
        availability = check_environment(spec, env_options or EnvOptions(), say)
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


def run_suite(suite: Suite, requested_envs: Sequence[str] | None, options: RunOptions,
              progress: Progress | None = None) -> Path:
    """Run ``suite`` and return the run directory. KeyboardInterrupt stops it with every finished trial kept.

    The host's measuring lock (vbench.hostlock) is taken first, before any environment is checked (a VM's KVM
    probe boots a guest) or provisioned, and held until they are torn down."""
    progress = progress or Silent()
    run_id, started_at = options.run_id or new_run_id(suite.name), now()
    with hostlock.measuring(run_id, options.results_dir / run_id, started_at, options.allow_concurrent,
                            progress.note) as beside:
        check_space(suite, list(requested_envs or suite.environments), options, fresh=True)
        specs, skipped = resolve_environments(suite, requested_envs, options.env_options, progress.note,
                                              options.aa_control)
        plan = suite.plan
        seed = options.seed if options.seed is not None else plan.seed
        seed = seed if seed is not None else secrets.randbits(32)
        meta = RunMeta(
            vbench_version=__version__, started_at=started_at, status="running", suite=suite.to_dict(), seed=seed,
            baseline=BASELINE, owner=owner(), environments=tuple(s.label for s in specs),
            skipped_environments=skipped, named_environments=requested_envs is not None,
            env_options=options.env_options, scratch_root=options.scratch_root,
            host=host_fingerprint(options.scratch_root), concurrent_with=beside,
            rounds={"planned_min": plan.min_rounds, "max": plan.max_rounds, "done": 0})
        store = RunStore.create(options.results_dir, run_id, meta)
        return _execute(suite, specs, RunRecord(store, meta), options, progress, [])


def resume_run(run: str | Path, progress: Progress | None = None, allow_concurrent: bool = False) -> Path:
    """Finish an interrupted run in place: the same suite, environments, seed and order; finished trials kept.
    It takes the host's measuring lock as a new run does."""
    store = RunStore(run_dir(run))
    meta = store.read_meta()
    if meta.status == "complete":
        raise VBenchError(f"{store.dir.name} is already complete; nothing to resume")
    holder = meta.owner or {}
    if holder and owner_alive(holder):
        raise VBenchError(f"{store.dir.name} is still running (pid {holder.get('pid')})")
    suite = suite_from_dict(meta.suite or {})
    specs = [registry.resolve(label)[0] for label in meta.environments or ()]
    options = RunOptions(store.dir.parent, meta.scratch_root or RunOptions.scratch_root,
                         env_options=meta.env_options or EnvOptions(), allow_concurrent=allow_concurrent)
    progress = progress or Silent()
    resumed_at = now()
    with hostlock.measuring(store.dir.name, store.dir, resumed_at, allow_concurrent, progress.note) as beside:
        check_space(suite, list(meta.environments or ()), options, fresh=False)
        for spec in specs:
            availability = check_environment(spec, options.env_options, progress.note)
            if not availability.ok:
                raise VBenchError(f"cannot resume: environment {spec.label} is unavailable: {availability.reason}")
        # resuming asks for exactly the run's environments
        meta = dataclasses.replace(meta, named_environments=True, status="running", reason=None, owner=owner(),
                                   resumed_at=(*(meta.resumed_at or ()), resumed_at), concurrent_with=beside)
        store.repair_tail()
        return _execute(suite, specs, RunRecord(store, meta), options, progress, list(iter_trials(store.dir)))


def _execute(suite: Suite, specs: list[EnvSpec], record: RunRecord, options: RunOptions, progress: Progress,
             finished: list[Trial]) -> Path:
    store = record.store
    context = Context(store.dir.name, options.scratch_root, options.env_options)
    active: dict[str, Environment] = {}
    with contextlib.ExitStack() as stack:
        try:
            for spec in specs:
                env = provision(stack, spec, context, record, progress)
                if env is not None:
                    active[spec.label] = env
            record.update(environments=tuple(active),
                          env_fingerprints={label: fingerprint(env) for label, env in active.items()})
            cases = build_cases(suite, [s for s in specs if s.label in active])
            Session(cases, Bench(active, suite.plan.timeout_s, options), suite.plan, record, progress,
                    finished).run()
            record.update(status="complete")
        except KeyboardInterrupt:
            record.update(status="interrupted")
            _write_early(record)
            raise
        except BaseException as exc:
            record.update(status="failed", reason=str(exc))
            _write_early(record)
            raise
        finally:
            stack.close()  # tear down before the final meta, so teardown times are in it
            record.update(ended_at=now(),
                          lifecycles={label: env.lifecycle.to_dict() for label, env in active.items()})
            try:
                record.write()
            except NoSpace:
                if sys.exc_info()[0] is None:
                    raise
                # the run is already ending with an error (the disk filled under a trial, say): that one is said;
                # run.json keeps its last state, which --resume reads
            remember(record.meta)
    return store.dir


def _write_early(record: RunRecord) -> None:
    """run.json with how the run ended, before the teardown: a teardown that never ends (vbench.cli then exits
    after its grace) or a second kill leaves the status said. A failure here is left to the final write."""
    with contextlib.suppress(VBenchError, OSError):
        record.write()


def remember(meta: RunMeta) -> None:
    """A complete run that was not resumed goes into this host's history: how long its suite took here, which
    ``vbench list`` shows as the suite's time estimate."""
    if meta.status != "complete" or meta.resumed_at or not meta.started_at or not meta.ended_at:
        return
    suite = meta.suite or {}
    wall = datetime.fromisoformat(meta.ended_at) - datetime.fromisoformat(meta.started_at)
    history.record({"suite": suite.get("name"), "quick": bool(suite.get("quick")),
                    "environments": list(meta.environments or ()), "wall_s": round(wall.total_seconds(), 1),
                    "rounds": (meta.rounds or {}).get("done"), "ended_at": meta.ended_at})


# What a run writes per trial (its line in trials.jsonl, its samples file: about 3 and 14 KiB in an io run here),
# with room to spare, and once (run.json, overheads.csv, the report: about 2 MiB for 539 trials).
RESULTS_PER_TRIAL = 32 << 10
RESULTS_ONCE = 8 << 20
SCRATCH_SPARE = 64 << 20


def check_space(suite: Suite, labels: list[str], options: RunOptions, fresh: bool) -> None:
    """A one-line error now when the results or the scratch filesystem has less free space than the plan needs:
    every trial the plan may run (its warm-up and its round cap, over the environments and the A/A control), and
    the largest file an io workload lays out, once per environment whose files are under the scratch root (native
    and the A/A control, a bind mount, a VM's scratch disk) since a sliced block lays them out at once."""
    plan = suite.plan
    sides = set(labels) | {BASELINE} | ({AA_CONTROL} if options.aa_control else set())
    trials = (plan.warmup_rounds + plan.max_rounds) * len(suite.entries) * len(sides)
    if fresh:
        check_free("the results directory", options.results_dir, trials * RESULTS_PER_TRIAL + RESULTS_ONCE)
    largest = max((file_size(e.workload, e.params) for e in suite.entries), default=0)
    on_scratch = sum(1 for label in sides if scratch_backed(label))
    if largest:
        check_free("the scratch root", options.scratch_root, largest * on_scratch + SCRATCH_SPARE)


def file_size(workload: str, params: dict[str, Any]) -> int:
    """Bytes of the file an io workload lays out (its ``size``, or its default's), 0 for any other."""
    if not workload.startswith("io."):
        return 0
    from workloads.units import parse_size

    size = params.get("size", getattr(catalog.load(workload), "PARAMS", {}).get("size"))
    try:
        return parse_size(size) if size is not None else 0
    except ValueError:
        return 0


def scratch_backed(label: str) -> bool:
    """Whether the environment's files live under the host's scratch root (a container's volume and writable
    layer are in Docker's data root, a tmpfs in memory)."""
    spec, _ = registry.resolve(label)
    return spec.kind in ("native", "vm") or (spec.kind == "docker" and spec.variant == "bind")


def provision(stack: contextlib.ExitStack, spec: EnvSpec, context: Context, record: RunRecord,
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


def fingerprint(env: Environment) -> dict[str, Any]:
    """The environment's fingerprint; one the backend cannot read (a daemon gone quiet) says why instead."""
    try:
        return env.fingerprint()
    except Exception as exc:
        return {"kind": env.kind, "variant": env.spec.variant, "fingerprint_error": describe(exc)}


def failure_of(run: Path) -> str | None:
    """Why the run measured nothing, when every measured trial failed (or none ran); None when any succeeded."""
    measured = [t for t in iter_trials(run) if not t.warmup]
    if any(t.status == "ok" for t in measured):
        return None
    if not measured:
        return "no measured trial ran"
    reason, count = Counter(t.error or t.status for t in measured).most_common(1)[0]
    return f"every measured trial failed ({len(measured)}); the most common reason ({count}): {reason}"
