"""The host fingerprint, read from fake /proc and /sys trees."""
from __future__ import annotations

import dataclasses

from vbench.fingerprint import cgroup_version, cpu_model, host_fingerprint, hypervisor

CPUINFO = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu vme hypervisor sse\n"


def test_cpu_model_and_hypervisor_flag(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    assert cpu_model(str(tmp_path / "cpuinfo")) == "Intel(R) Xeon(R) Processor"
    assert hypervisor(str(tmp_path / "cpuinfo"))
    (tmp_path / "bare").write_text(CPUINFO.replace(" hypervisor", ""))
    assert not hypervisor(str(tmp_path / "bare"))


def test_cgroup_versions(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory io\n")
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    assert cgroup_version(str(v2)) == 2 and cgroup_version(str(v1)) == 1
    assert cgroup_version(str(tmp_path / "none")) is None


def test_host_fingerprint_has_the_design_fields(tmp_path):
    proc, sys_root = tmp_path / "proc", tmp_path / "sys"
    proc.mkdir()
    (proc / "cpuinfo").write_text(CPUINFO)
    governor = sys_root / "devices/system/cpu/cpu0/cpufreq"
    governor.mkdir(parents=True)
    (governor / "scaling_governor").write_text("performance\n")
    fp = dataclasses.asdict(host_fingerprint(str(tmp_path), proc_root=str(proc), sys_root=str(sys_root)))
    assert fp["cpu_model"] == "Intel(R) Xeon(R) Processor" and fp["cpu_governor"] == "performance"
    assert fp["memory_bytes"] > 0 and fp["kernel"] and fp["scratch_fs"] != "unknown"
