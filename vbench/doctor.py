"""``vbench doctor``: what can run on this host, and for what cannot, why."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from vbench import envs as registry
from vbench.errors import VBenchError
from vbench.fingerprint import filesystem_of, tool_version
from workloads.io._direct import probe_direct


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def checks(scratch_root: str, probe: bool = False) -> list[Check]:
    """Every check; with ``probe``, the KVM probe boot runs now instead of its cached answer being shown."""
    out = [Check(f"env {kind}", *_availability(kind)) for kind in registry.kinds()]
    fio = tool_version(["fio", "--version"])
    out.append(Check("fio", fio is not None, fio or "absent: io workloads use the pure-Python fallback "
                                                     "(install fio: apt-get install fio)"))
    for tool, use in (("iperf3", "tcp stream"), ("sockperf", "request/response")):
        version = tool_version([tool, "--version"])
        out.append(Check(tool, version is not None, version or f"absent: net {use} workloads use the stdlib client, "
                                                               f"flagged stdlib-fallback (apt-get install {tool})"))
    out.append(_direct_io(scratch_root))
    out.extend(_docker())
    qemu = tool_version(["qemu-system-x86_64", "--version"])
    out.append(Check("qemu", qemu is not None, qemu or "absent: apt-get install qemu-system-x86 qemu-utils"))
    out.append(_kvm(probe))
    from vbench.envs.netns import tap_availability

    tap = tap_availability()
    out.append(Check("tap network", tap.ok, tap.reason))
    return out


def _availability(kind: str) -> tuple[bool, str]:
    availability = registry.env_class(kind).available()
    return availability.ok, availability.reason


def _direct_io(scratch_root: str) -> Check:
    try:
        os.makedirs(scratch_root, mode=0o700, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
            ok, reason = probe_direct(tmp)
    except OSError as exc:
        return Check("O_DIRECT", False, f"cannot use scratch dir {scratch_root}: {exc.strerror}")
    fs = filesystem_of(scratch_root)
    return Check("O_DIRECT", ok, f"{scratch_root} ({fs}): {reason}")


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
        runtimes = [Check(f"runtime {name}", *probe_runtime(client, name, guest_image().tag))
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
        return Check("accelerator", False, f"KVM or TCG: {reason}")
    return Check("accelerator", False, f"KVM unusable: {reason} (TCG software emulation would run)")
