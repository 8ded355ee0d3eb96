"""The data model: environment specs, cases and executions (frozen; raw values kept, statistics derived)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

BASELINE = "native"  # what every environment is compared with
# The A/A control: a second native environment, identical to the baseline and measured like any other; its
# "overhead" is the run's noise floor.
AA_CONTROL = "native:aa"
TCG = "tcg"  # the accelerator that is software emulation, not virtualization: its rows are labelled so
EMULATION_SUFFIX = " (TCG emulation)"  # what every label of an environment that ran under TCG carries
GUEST_ROOT = "/opt/vbench"  # vbench's files inside a container or VM: workloads/, plugins/, user/
GUEST_PLUGINS = f"{GUEST_ROOT}/plugins"  # the third-party workloads' packages there, one directory each
SERVER_PORT = 5201  # the network workloads' server inside an environment


@dataclass(frozen=True)
class EnvSpec:
    """An environment and its variant, written ``kind`` or ``kind:variant`` (``native``, ``docker:volume``)."""

    kind: str
    variant: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.variant}" if self.variant else self.kind

    @classmethod
    def parse(cls, text: str) -> "EnvSpec":
        kind, _, variant = text.strip().partition(":")
        return cls(kind, variant or None)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Case:
    """One (workload entry, parameters, environment, variant): what a trial executes."""

    name: str
    workload: str
    params: Mapping[str, Any] = field(hash=False)
    env: EnvSpec = EnvSpec("native")

    @property
    def case_id(self) -> str:
        return f"{self.name}@{self.env.label}"

    def invocation(self) -> dict:
        return {"workload": self.workload, "params": dict(self.params)}


@dataclass(frozen=True)
class Execution:
    """What an environment returns for one invocation: the runner's output and the host's view of it."""

    stdout: str
    stderr: str
    returncode: int | None
    host_wall_s: float
    timed_out: bool = False
    far_wall_s: float | None = None  # the same run's wall time measured at the far end (a guest agent's clock)
    error: str | None = None  # the transport itself failed (a dead guest, engine or channel): why, in one line

    def result(self) -> dict | None:
        """The runner's JSON record (its last stdout line), or None when there is none."""
        for line in reversed(self.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return None
                return record if isinstance(record, dict) else None
        return None


@dataclass(frozen=True)
class Handle:
    """What collectors can watch while a trial runs: a host PID tree, a cgroup, a QEMU process."""

    pid: int | None = None
    cgroups: Mapping[str, str] = field(default_factory=dict, hash=False)  # controller -> dir; v2: "" -> dir
    container_id: str | None = None
    extra_pids: tuple[int, ...] = ()  # helpers carrying the trial's traffic, e.g. docker-proxy


@dataclass(frozen=True)
class EnvOptions:
    """The containers' and VMs' options from the command line (None: the backend's default); every backend reads
    the fields it knows. run.json keeps the ones set, so ``--resume`` gets the same (see :mod:`vbench.store`)."""

    image: str | None = None  # a container image with python3 and fio instead of vbench's guest image
    runtime: str | None = None  # the containers' OCI runtime (runc, crun, runsc)
    cpus: float | None = None  # the containers' CPU limit
    memory: str | None = None  # the containers' memory limit (2g)
    blkio_accounting: bool | None = None  # cgroup v1: a never-limiting throttle rule so block I/O is counted
    accel: str | None = None  # auto, kvm or tcg
    vcpus: int | None = None
    memory_mb: int | None = None  # the guest's memory
    disk_size: str | None = None  # the VM's scratch disk (qemu-img's size: 8G)
    agent_grace: float | None = None  # seconds past a trial's timeout before a silent guest counts as hung
    boot_timeout: float | None = None
    user_dir: str | None = None  # the user's pytest-benchmark directory, shared read-only

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Metric:
    """One figure of a trial: its value, unit and direction."""

    value: float
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class Trial:
    """One trial as trials.jsonl keeps it (vbench/schema/trial.schema.json): built by the runner from the
    runner's JSON line and the host's view, turned into and out of JSON by :mod:`vbench.store` alone."""

    trial_id: str  # w<round>- for warmups, r<round>- for measured rounds, then case@environment
    round: int  # negative for warmup rounds, 1.. for measured ones
    warmup: bool
    seq: int  # the trial's place in the run's order
    case: str
    workload: str
    params: Mapping[str, Any]  # what the runner used
    environment: str
    env_kind: str
    variant: str | None
    status: str  # ok, failed or timeout
    error: str | None
    started_at: str
    host_wall_s: float
    guest_duration_s: float | None
    metrics: Mapping[str, Metric]  # empty unless status is ok
    primary: str | None
    flags: tuple[str, ...]  # page-cache-read, clock-disagree, stdlib-fallback, ...
    info: Mapping[str, Any]  # what the workload reports beside its metrics (io_mode, engine, ...)
    guest_wall_s: float | None = None  # the guest agent's own timing (VMs)
    guest: Mapping[str, Any] | None = None  # the runner's guest-side accounting
    collectors: Mapping[str, Any] | None = None  # collector name -> its summary of the trial
    stderr_tail: str | None = None
    run_id: str | None = None
    accelerator: str | None = None  # kvm or tcg for VM trials
    emulation: bool | None = None  # true when a VM ran under TCG
    samples: str | None = None  # the collectors' series, relative to the run directory

    @property
    def primary_metric(self) -> Metric | None:
        return self.metrics.get(self.primary) if self.primary else None


@dataclass(frozen=True)
class HostFingerprint:
    """What the host was when a run started (vbench.fingerprint.host_fingerprint); ``extra`` keeps what a
    record names beyond these fields (the schema leaves the fingerprint open-ended)."""

    hostname: str | None = None
    cpu_model: str | None = None
    cpu_logical: int | None = None
    cpu_physical: int | None = None
    memory_bytes: int | None = None
    kernel: str | None = None
    os: str | None = None
    python: str | None = None
    vbench: str | None = None
    hypervisor: bool | None = None  # the host is itself a virtual machine (the 'hypervisor' CPU flag)
    cpu_governor: str | None = None
    cgroup_version: int | None = None
    scratch_dir: str | None = None
    scratch_fs: str | None = None
    fio: str | None = None
    steal_s_at_start: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunMeta:
    """A run's run.json (vbench/schema/run.schema.json): built and updated by the runner, turned into and out of
    JSON by :mod:`vbench.store` alone. None: not recorded (yet)."""

    vbench_version: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    resumed_at: tuple[str, ...] | None = None
    status: str | None = None  # running, complete, interrupted or failed
    reason: str | None = None  # why a failed run failed
    suite: Mapping[str, Any] | None = None  # Suite.to_dict()
    seed: int | None = None
    baseline: str | None = None
    owner: Mapping[str, Any] | None = None  # the process that runs it (vbench.ledger.owner)
    environments: tuple[str, ...] | None = None
    named_environments: bool | None = None
    skipped_environments: Mapping[str, str] | None = None  # label -> why it could not run here
    env_options: EnvOptions | None = None
    scratch_root: str | None = None
    note: str | None = None
    host: HostFingerprint | None = None
    rounds: Mapping[str, Any] | None = None  # planned_min, max, done, stop_reason, decisions
    slicing: Mapping[str, str | None] | None = None  # entry -> why it ran as whole trials, None when sliced
    concurrent_with: Mapping[str, Any] | None = None  # the run holding the host's lock as this one (re)started
    env_fingerprints: Mapping[str, Mapping[str, Any]] | None = None
    lifecycles: Mapping[str, Mapping[str, Any]] | None = None
    run_id: str | None = None  # written by the store: the run directory's name
