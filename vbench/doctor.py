"""``vbench doctor``: what can run on this host, and for what cannot, why; and the host's settings that make
numbers noisier (pyperf's ``system`` checks: frequency governor, turbo, SMT, CPUs to pin to, whether the host is
itself a VM, free space).

Every check has a level: ``ok``; ``warn``, vbench runs but something is lost or noisier (a fallback, emulation,
turbo); ``fail``, a part cannot run. ``bottom_line`` says in a few lines what the levels mean for a run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from vbench import envs as registry, fmt
from vbench.errors import VBenchError
from vbench.fingerprint import filesystem_of, hypervisor_flag, read_first, tool_version
from workloads.io._direct import probe_direct


OK, WARN, FAIL = "ok", "warn", "fail"
FREE_WARN_BYTES = 4 << 30  # the io suite's main job lays out about 1.3 GiB of files and writes 100 MiB of results


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    level: str = ""  # ok, warn or fail; unset: ok or fail, as ``ok`` says

    @property
    def status(self) -> str:
        return self.level or (OK if self.ok else FAIL)


def warn_unless(name: str, ok: bool, detail: str) -> Check:
    """A check whose failure costs a run something but does not stop it."""
    return Check(name, ok, detail, OK if ok else WARN)


def checks(scratch_root: str, probe: bool = False, results: str = "results") -> list[Check]:
    """Every check; with ``probe``, the KVM probe boot runs now instead of its cached answer being shown."""
    out = [Check(f"env {kind}", *_availability(kind)) for kind in registry.kinds()]
    fio = tool_version(["fio", "--version"])
    out.append(warn_unless("fio", fio is not None, fio or "absent: io workloads use the pure-Python fallback "
                                                          "(install fio: apt-get install fio)"))
    for tool, use in (("iperf3", "tcp stream"), ("sockperf", "request/response")):
        version = tool_version([tool, "--version"])
        out.append(warn_unless(tool, version is not None,
                               version or f"absent: net {use} workloads use the stdlib client, flagged "
                                          f"stdlib-fallback (apt-get install {tool})"))
    out.append(_direct_io(scratch_root))
    out.extend(_docker())
    qemu = tool_version(["qemu-system-x86_64", "--version"])
    out.append(Check("qemu", qemu is not None, qemu or "absent: apt-get install qemu-system-x86 qemu-utils"))
    out.append(_kvm(probe))
    from vbench.envs.netns import tap_availability

    tap = tap_availability()
    out.append(warn_unless("tap network", tap.ok, tap.reason))
    out.extend(system_checks(scratch_root, results))
    return out


def system_checks(scratch_root: str, results: str, sys_root: str = "/sys", proc_root: str = "/proc") -> list[Check]:
    """The host's settings that decide how noisy its numbers are (pure given the two roots, but for free space)."""
    from vbench.diskspace import free_bytes, size_text

    cpus = len(os.sched_getaffinity(0))
    out = [governor_check(sys_root), turbo_check(sys_root), smt_check(sys_root),
           warn_unless("CPUs to pin", cpus >= 2,
                       f"{fmt.plural(cpus, 'CPU')} for vbench: paired slices pin their workers to one and vbench to "
                       "another"
                       + ("" if cpus >= 2 else "; with one, workers and vbench share it (run with --no-pin)")),
           hypervisor_check(read_first(f"{proc_root}/cpuinfo", whole=True) or "",
                            read_first(f"{sys_root}/class/dmi/id/sys_vendor") or "")]
    for what, path in (("free space: results", results), ("free space: scratch", scratch_root)):
        free = free_bytes(path)
        out.append(warn_unless(what, free is None or free >= FREE_WARN_BYTES,
                               f"{size_text(free)} free for {path}" + ("" if free is None or free >= FREE_WARN_BYTES
                                                                        else ": the io suite's main job needs about "
                                                                             "1.5 GiB; a run checks its own needs "
                                                                             "before it starts")))
    return out


def governor_check(sys_root: str = "/sys") -> Check:
    found = {read_first(p) for p in _cpu_files(sys_root, "cpufreq/scaling_governor")} - {None, ""}
    if not found:
        return Check("CPU governor", True, "no frequency scaling is visible here (the firmware or the hypervisor "
                                           "sets the clock)")
    if found == {"performance"}:
        return Check("CPU governor", True, "performance on every CPU")
    return warn_unless("CPU governor", False, f"{', '.join(sorted(found))}: the clock follows the load, so a "
                                              "trial's speed depends on what ran before it (cpupower "
                                              "frequency-set -g performance)")


def turbo_check(sys_root: str = "/sys") -> Check:
    no_turbo = read_first(f"{sys_root}/devices/system/cpu/intel_pstate/no_turbo") or ""
    boost = read_first(f"{sys_root}/devices/system/cpu/cpufreq/boost") or ""
    if no_turbo == "" and boost == "":
        return Check("turbo", True, "no turbo control is visible here")
    on = no_turbo == "0" or boost == "1"
    return warn_unless("turbo", not on, "on: the clock rises with temperature and how many cores are busy, which "
                                        "adds noise (echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo)"
                       if on else "off")


def smt_check(sys_root: str = "/sys") -> Check:
    active = read_first(f"{sys_root}/devices/system/cpu/smt/active") or ""
    if active == "1":
        return warn_unless("SMT", False, "on: a CPU's sibling thread shares its core, so pinned work still shares "
                                         "execution units with what runs on the sibling")
    return Check("SMT", True, "off" if active == "0" else "not reported here")


def hypervisor_check(cpuinfo: str, vendor: str) -> Check:
    """Whether this host is itself a VM: a hypervisor takes CPU time (steal) and schedules its vCPUs, and a VM
    inside it is nested (often emulated)."""
    if not hypervisor_flag(cpuinfo):
        return Check("host is a VM", True, "no: bare metal")
    by = f" ({vendor.strip()})" if vendor.strip() else ""
    return warn_unless("host is a VM", False, f"yes{by}: its hypervisor's scheduling and steal add noise (vbench "
                                              "flags trials with steal above 5%), and a VM vbench starts here is "
                                              "nested: emulated unless nested virtualization is on")


def _cpu_files(sys_root: str, name: str) -> list[str]:
    base = f"{sys_root}/devices/system/cpu"
    try:
        cpus = [d for d in os.listdir(base) if d.startswith("cpu") and d[3:].isdigit()]
    except OSError:
        return []
    return [f"{base}/{cpu}/{name}" for cpu in sorted(cpus)]


def bottom_line(found: list[Check]) -> list[str]:
    """What the checks mean for a run, in a few lines: the counts, then each consequence that matters."""
    by = {c.name: c for c in found}
    counts = {level: sum(c.status == level for c in found) for level in (OK, WARN, FAIL)}
    lines = [f"{counts[OK]} ok, {fmt.plural(counts[WARN], 'warning')}, {fmt.plural(counts[FAIL], 'failure')}"]
    vm, accel = by.get("env vm"), by.get("accelerator")
    if vm is not None and vm.status == FAIL:
        lines.append("VMs will not run: " + vm.detail)
    elif accel is not None and accel.status != OK:
        lines.append("VMs will run under TCG software emulation, not KVM: their figures measure emulation"
                     if accel.detail.startswith("KVM unusable") else
                     "VMs: KVM or TCG is decided by a probe boot at the first VM run (vbench doctor --probe now)")
    docker = by.get("docker")
    if docker is not None and docker.status == FAIL:
        lines.append("containers will not run: " + docker.detail)
    noisy = [c.name for c in found if c.status == WARN and c.name in ("CPU governor", "turbo", "SMT",
                                                                       "host is a VM", "CPUs to pin")]
    if noisy:
        lines.append(f"numbers will be noisier than on a tuned host ({', '.join(noisy)}): compare runs on this "
                     "host with each other, and read every overhead beside the A/A floor")
    return lines


def _availability(kind: str) -> tuple[bool, str]:
    availability = registry.env_class(kind).available()
    return availability.ok, availability.reason


def _direct_io(scratch_root: str) -> Check:
    try:
        os.makedirs(scratch_root, mode=0o700, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
            ok, reason = probe_direct(tmp)
            reason = reason.replace(tmp, scratch_root)  # the probe's temporary path means nothing to a reader
    except OSError as exc:
        return Check("O_DIRECT", False, f"cannot use scratch dir {scratch_root}: {exc.strerror}")
    fs = filesystem_of(scratch_root)
    return warn_unless("O_DIRECT", ok, f"{scratch_root} ({fs}): {reason}"
                       + ("" if ok else " (direct jobs fall back to buffered I/O, and their mode says so)"))


def _docker() -> list[Check]:
    from vbench.envs.docker import docker_client, probe_runtime
    from vbench.images import guest_image

    if not shutil.which("dockerd") and not os.path.exists("/var/run/docker.sock"):
        return [Check("docker", False, "no Docker engine installed (apt-get install docker.io, or ./setup.sh)")]
    client = docker_client(timeout=5)
    if client is None:
        return [Check("docker", False, "the engine does not answer: start dockerd (./setup.sh does, as root)")]
    try:
        info, version = client.info(), client.version()
        present = bool(client.images.list(name=guest_image().tag))
        runtimes = [runtime_check(name, *probe_runtime(client, name, guest_image().tag))
                    for name in ("runc", "crun", "runsc") if present and name in info.get("Runtimes", {})]
    finally:
        client.close()
    engine = Check("docker", True, f"engine {version.get('Version')}, {info.get('Driver')} on "
                                   f"{dict(info.get('DriverStatus') or []).get('Backing Filesystem', '?')}, "
                                   f"cgroup v{info.get('CgroupVersion')} ({info.get('CgroupDriver')}), "
                                   f"runtimes: {', '.join(sorted(info.get('Runtimes', {})))}")
    image = Check("guest image", present, f"{guest_image().tag} " + ("is in the engine" if present else
                                                                     "is not built: vbench images build"))
    return [engine, image, *runtimes]


def runtime_check(name: str, ok: bool, said: str) -> Check:
    """An OCI runtime's check: the engine's HTTP error cut to its cause, with the fix where one is known. runc is
    the default, so only its failure is one; another runtime's is a warning."""
    cause = said.split('("', 1)[1].rsplit('")', 1)[0] if '("' in said else said
    cause = cause.removeprefix("failed to create shim task: ").removeprefix("OCI runtime create failed: ")
    cause = cause.removesuffix(": unknown")
    if "hybrid mode not supported" in cause:
        cause += " (crun needs a pure cgroup v1 or v2 host; use runc here)"
    detail = said if ok else f"cannot start containers: {cause}"
    return Check(f"runtime {name}", ok, detail, OK if ok else FAIL if name == "runc" else WARN)


def _kvm(probe: bool) -> Check:
    """Which accelerator `vm` would run, and why, in QEMU's words: from the cached KVM probe boot, or (``probe``)
    from one booted now."""
    from vbench.envs.qemu import forget_probe, probe_kvm
    from vbench.images import guest_image

    image = guest_image()
    if probe:
        if not image.disk.is_file():
            return Check("accelerator", False, f"cannot probe KVM: the VM disk of guest image {image.hash} is "
                                               "not built: vbench images build")
        forget_probe(image)
    try:
        ok, reason = probe_kvm(image, cached_only=not probe)
    except VBenchError as exc:  # the probe could not even be prepared (no kernel in the image, no mkfs)
        return Check("accelerator", False, f"the KVM probe could not run: {exc}")
    if ok:
        return Check("accelerator", True, f"KVM would run: {reason}")
    if ok is None:
        return Check("accelerator", False, f"KVM or TCG: {reason}", WARN)
    return Check("accelerator", False, f"KVM unusable: {reason} (TCG software emulation would run)", WARN)
