"""The QEMU command line builder, the accelerator choice and the agent's handling, without booting."""
from __future__ import annotations

import json

import pytest

from vbench.envs import qemu
from vbench.envs.qemu_machine import VMConfig, qemu_argv
from vbench.errors import VBenchError
from vbench.model import Execution
from vbench.validity import clock_flag
from workloads import agent

BASE = dict(kernel="/k", initrd="/i", root_disk="/root.ext4", payload_disk="/p.ext4", agent_socket="/s/agent",
            console_log="/c.log")


def option_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_tcg_uses_emulated_cpu_and_multithreaded_tcg():
    argv = qemu_argv(VMConfig(accel="tcg", scratch="/x.raw", **BASE))
    assert option_values(argv, "-accel") == ["tcg,thread=multi"] and option_values(argv, "-cpu") == ["max"]
    assert "-no-reboot" in argv and "panic=-1" in option_values(argv, "-append")[0]


def test_kvm_uses_host_cpu():
    argv = qemu_argv(VMConfig(accel="kvm", scratch="/x.raw", vcpus=4, memory_mb=4096, **BASE))
    assert option_values(argv, "-accel") == ["kvm"] and option_values(argv, "-cpu") == ["host"]
    assert option_values(argv, "-smp") == ["4"] and option_values(argv, "-m") == ["4096"]


def test_root_and_payload_are_read_only_and_root_is_first():
    drives = option_values(qemu_argv(VMConfig(accel="tcg", scratch="/x.raw", **BASE)), "-drive")
    assert drives[0].startswith("file=/root.ext4,") and "readonly=on" in drives[0]
    assert "readonly=on" in drives[1] and "id=payload" in drives[1]


def test_block_variants_use_cache_none_and_native_aio_when_direct_io_works():
    drives = option_values(qemu_argv(VMConfig(accel="tcg", scratch="/x.qcow2", scratch_format="qcow2", **BASE)),
                           "-drive")
    assert drives[2] == "file=/x.qcow2,format=qcow2,if=none,id=scratch,cache=none,aio=native"
    fallback = option_values(qemu_argv(VMConfig(accel="tcg", scratch="/x.raw", direct_io=False, **BASE)), "-drive")
    assert "cache=writeback,aio=threads" in fallback[2]


def test_shared_directory_variants():
    vfs = qemu_argv(VMConfig(accel="tcg", storage="virtiofs", virtiofs_socket="/s/vfs", **BASE))
    assert "vhost-user-fs-pci,chardev=vfs,tag=scratch" in vfs
    assert any(o.startswith("memory-backend-memfd") and "share=on" in o for o in option_values(vfs, "-object"))
    nine = qemu_argv(VMConfig(accel="tcg", storage="9p", scratch="/shared", **BASE))
    assert "local,id=fs9p,path=/shared,security_model=none" in option_values(nine, "-fsdev")
    assert "vbench.storage=9p" in option_values(nine, "-append")[0]


def test_agent_port_is_virtio_serial():
    argv = qemu_argv(VMConfig(accel="tcg", scratch="/x.raw", **BASE))
    assert "virtserialport,chardev=agent,name=vbench.agent" in argv
    assert "socket,id=agent,path=/s/agent,server=on,wait=off" in option_values(argv, "-chardev")


def test_9p_gets_the_generic_kernel():
    assert qemu.KERNEL_FOR["9p"] == "generic" and qemu.KERNEL_FOR["virtio"] == "cloud"


def test_tcg_requested_needs_no_probe(monkeypatch):
    monkeypatch.setattr(qemu, "probe_kvm", lambda image: pytest.fail("probed"))
    assert qemu.choose_accel("tcg", None) == ("tcg", "asked for TCG")


def test_failed_probe_falls_back_to_tcg_and_says_why(monkeypatch):
    monkeypatch.setattr(qemu, "probe_kvm", lambda image: (False, "a KVM probe boot failed: hung"))
    accel, reason = qemu.choose_accel("auto", None)
    assert accel == "tcg" and "emulation" in reason and "hung" in reason
    with pytest.raises(VBenchError, match="^KVM cannot run here: a KVM probe boot failed: hung$"):
        qemu.choose_accel("kvm", None)


def test_successful_probe_runs_kvm(monkeypatch):
    monkeypatch.setattr(qemu, "probe_kvm", lambda image: (True, "reached the agent"))
    assert qemu.choose_accel("auto", None)[0] == "kvm"


def test_probe_result_is_cached(monkeypatch, tmp_path):
    class Image:
        hash = "abc"
        dir = tmp_path / "guest-abc"

    calls = []
    monkeypatch.setattr(qemu.os.path, "exists", lambda p: True)
    monkeypatch.setattr(qemu.os, "access", lambda p, m: True)
    monkeypatch.setattr(qemu, "_probe_boot", lambda image: calls.append(1) or (False, "no"))
    assert qemu.probe_kvm(Image) == (False, "no") and qemu.probe_kvm(Image) == (False, "no")
    assert len(calls) == 1 and json.loads((tmp_path / "kvm-probe.json").read_text())["ok"] is False


def test_unknown_accel_is_an_error():
    with pytest.raises(VBenchError, match="--accel"):
        qemu.choose_accel("hvf", None)


def test_clock_disagreement_flag():
    assert clock_flag(Execution("", "", 0, 10.0, far_wall_s=9.9)) is None
    assert clock_flag(Execution("", "", 0, 10.0, far_wall_s=8.0)) == "clock-disagree"
    assert clock_flag(Execution("", "", 0, 0.2, far_wall_s=0.17)) is None  # within 50 ms
    assert clock_flag(Execution("", "", 0, 10.0)) is None  # no guest clock


def test_agent_handles_ping_exec_and_garbage(tmp_path):
    assert agent.handle({"op": "ping"})["op"] == "pong"
    reply = agent.handle({"op": "exec", "id": 3, "argv": ["sh", "-c", "echo hi; echo err >&2; exit 4"],
                          "cwd": str(tmp_path), "timeout": 10})
    assert reply["id"] == 3 and reply["returncode"] == 4 and reply["stdout"] == "hi\n" and reply["stderr"] == "err\n"
    late = agent.handle({"op": "exec", "id": 4, "argv": ["sleep", "5"], "timeout": 0.2})
    assert late["timed_out"] and late["returncode"] is None
    assert agent.handle({"op": "dance"})["op"] == "error"


def test_agent_finds_its_port_by_name(tmp_path):
    for port, name in (("vport0p0", "org.qemu.guest_agent"), ("vport1p1", "vbench.agent")):
        (tmp_path / port).mkdir()
        (tmp_path / port / "name").write_text(name + "\n")
    assert agent.find_port(sys_root=str(tmp_path)) == "/dev/vport1p1"
    with pytest.raises(FileNotFoundError):
        agent.find_port("nothing", sys_root=str(tmp_path))


def test_user_network_forwards_tcp_and_udp_from_loopback():
    argv = qemu_argv(VMConfig(accel="tcg", storage="none", hostfwd_port=40123, guest_address="10.0.2.15", **BASE))
    nic = option_values(argv, "-nic")
    assert nic == ["user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:40123-:5201,hostfwd=udp:127.0.0.1:40123-:5201"]
    assert "vbench.ip=10.0.2.15" in option_values(argv, "-append")[0]
    assert option_values(qemu_argv(VMConfig(accel="tcg", scratch="/x.raw", **BASE)), "-nic") == ["none"]


def test_tap_network_runs_qemu_inside_the_namespace():
    tap = dict(storage="none", netns="vbench-7-abc", tap="vtap0", guest_address="10.77.0.2", **BASE)
    argv = qemu_argv(VMConfig(accel="tcg", **tap))
    assert argv[:5] == ["ip", "netns", "exec", "vbench-7-abc", "qemu-system-x86_64"]
    assert option_values(argv, "-netdev") == ["tap,id=net0,ifname=vtap0,script=no,downscript=no"]
    assert "virtio-net-pci,netdev=net0" in option_values(argv, "-device") and "-nic" not in argv
    assert "vbench.ip=10.77.0.2" in option_values(argv, "-append")[0]
    kvm = qemu_argv(VMConfig(accel="kvm", vhost=True, **tap))
    assert option_values(kvm, "-netdev")[0].endswith(",vhost=on")
    described = qemu.network_of(VMConfig(accel="kvm", vhost=True, **tap))
    assert "in namespace vbench-7-abc" in described and "with vhost-net" in described
    assert "without vhost-net" in qemu.network_of(VMConfig(accel="tcg", **tap))
    assert qemu.network_of(VMConfig(accel="tcg", scratch="/x.raw", **BASE)) is None


def test_tap_needs_root(monkeypatch):
    monkeypatch.setattr(qemu.os, "geteuid", lambda: 1000)
    availability = qemu.VM.available_variant("tap")
    assert not availability and "needs root" in availability.reason
    assert qemu.VM.available_variant("usernet").reason == qemu.VM.available().reason
    if not qemu.VM.available():
        pytest.skip(f"vm unavailable here ({qemu.VM.available().reason}): defaults cannot be told apart")
    from vbench.run.lifecycle import resolve_environments
    from vbench.suite import load_suite

    specs, skipped = resolve_environments(load_suite("net"), None)  # a default: skipped, with why
    assert "needs root" in skipped["vm:tap"] and "vm:usernet" in [s.label for s in specs]
    with pytest.raises(VBenchError, match="vm:tap is unavailable: a tap device on a bridge needs root"):
        resolve_environments(load_suite("net"), ["native", "vm:tap"])  # asked for by name: an error


def test_agent_lines_that_are_not_json_objects_are_channel_errors():
    from vbench.envs.qemu_machine import ChannelError, parse_message

    assert parse_message(b'{"op": "pong"}') == {"op": "pong"}
    for line in (b"\x00\xff garbage", b"[1, 2]", b"5", b'"text"', b""):
        with pytest.raises(ChannelError, match="not JSON|not an object"):
            parse_message(line)


def test_qemus_exit_is_described_in_its_own_words(tmp_path):
    from vbench.envs.qemu_machine import exit_description

    log = tmp_path / "qemu.stderr"
    log.write_text("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
                   "qemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion `ret' failed.\n")
    assert exit_description(-6, str(log), "during boot") == (
        "QEMU aborted (SIGABRT) during boot: error: failed to set MSR 0x10a to 0x69; "
        "kvm.c:3183: kvm_buf_set_msrs: Assertion `ret' failed.")
    assert exit_description(-9, str(tmp_path / "absent")) == "QEMU was killed by SIGKILL"
    assert exit_description(1, str(tmp_path / "absent"), "at start") == "QEMU exited with status 1 at start"


def test_the_vcpu_thread_the_guest_worker_runs_on_is_pinned_on_the_host():
    """A real process with a thread named as QEMU names its vCPU threads (debug-threads=on) stands in for QEMU."""
    import os
    import subprocess
    import sys

    from vbench.envs.qemu import pin_vcpu_thread, unpin_thread

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("pinning needs two CPUs")
    code = ("import threading, time, sys\n"
            "def vcpu():\n"
            "    open(f'/proc/self/task/{threading.get_native_id()}/comm', 'w').write('CPU 0/TCG')\n"
            "    print(threading.get_native_id(), flush=True)\n"
            "    time.sleep(30)\n"
            "threading.Thread(target=vcpu, daemon=True).start()\n"
            "time.sleep(30)\n")
    qemu = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        tid = int(qemu.stdout.readline())
        said, pinned = pin_vcpu_thread(qemu.pid, [0], 1)
        assert said == f"QEMU's vCPU thread 'CPU 0/TCG' pinned to host CPU {cpus[1]}" and pinned == tid
        assert os.sched_getaffinity(tid) == {cpus[1]}
        assert os.sched_getaffinity(qemu.pid) == set(cpus)  # only that thread
        unpin_thread(qemu.pid, tid)  # before a whole trial: every vCPU free again
        assert os.sched_getaffinity(tid) == set(cpus)
        assert pin_vcpu_thread(qemu.pid, [1], 0) == ("not pinned on the host: QEMU has no thread named 'CPU 1/...'",
                                                     None)
        assert pin_vcpu_thread(qemu.pid, [0, 1], 0)[0].startswith("not pinned on the host: the guest's worker")
    finally:
        qemu.kill()
        qemu.wait()
