"""vbench doctor's levels and bottom line, and its system checks on fixed /sys and /proc trees."""
from __future__ import annotations

from pathlib import Path

from vbench.doctor import (FAIL, OK, WARN, Check, bottom_line, governor_check, hypervisor_check, runtime_check,
                           smt_check, system_checks, turbo_check)

CRUN_SAID = ('500 Server Error for http+docker://localhost/v1.41/containers/c0841993565d/start: Internal Server '
             'Error ("failed to create shim task: OCI runtime create failed: cgroups in hybrid mode not supported, '
             'drop all controllers from cgroupv2: unknown")')  # what the engine said on this kind of host


def sysfs(tmp_path: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = tmp_path / "sys" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    (tmp_path / "sys").mkdir(parents=True, exist_ok=True)
    return str(tmp_path / "sys")


def test_a_tuned_host_passes_and_each_noise_source_warns_with_its_fix(tmp_path):
    tuned = sysfs(tmp_path / "a", {"devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance",
                                   "devices/system/cpu/cpu1/cpufreq/scaling_governor": "performance",
                                   "devices/system/cpu/intel_pstate/no_turbo": "1",
                                   "devices/system/cpu/smt/active": "0"})
    assert [c.status for c in (governor_check(tuned), turbo_check(tuned), smt_check(tuned))] == [OK, OK, OK]
    noisy = sysfs(tmp_path / "b", {"devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave",
                                   "devices/system/cpu/cpu1/cpufreq/scaling_governor": "performance",
                                   "devices/system/cpu/cpufreq/boost": "1", "devices/system/cpu/smt/active": "1"})
    governor, turbo, smt = governor_check(noisy), turbo_check(noisy), smt_check(noisy)
    assert governor.status == WARN and governor.detail.startswith("performance, powersave: ")
    assert "cpupower frequency-set -g performance" in governor.detail
    assert turbo.status == WARN and turbo.detail.startswith("on: ") and smt.status == WARN
    bare = sysfs(tmp_path / "c", {})  # a VM's /sys: nothing to tune, nothing to warn about
    assert [c.status for c in (governor_check(bare), turbo_check(bare), smt_check(bare))] == [OK, OK, OK]


def test_a_host_that_is_a_vm_is_a_warning_saying_what_it_means():
    assert hypervisor_check("flags\t\t: fpu vme sse2\n", "").status == OK
    check = hypervisor_check("processor: 0\nflags\t\t: fpu vme hypervisor sse2\n", "QEMU\n")
    assert check.status == WARN and check.detail.startswith("yes (QEMU): ") and "nested" in check.detail


def test_free_space_and_cpus_are_checked_on_the_real_host(tmp_path):
    checks = {c.name: c for c in system_checks(str(tmp_path), str(tmp_path), sys_root=str(tmp_path))}
    assert {"CPU governor", "turbo", "SMT", "CPUs to pin", "host is a VM", "free space: results",
            "free space: scratch"} <= set(checks)
    assert "free for " + str(tmp_path) in checks["free space: scratch"].detail


def test_a_runtimes_engine_error_is_cut_to_its_cause_and_fix():
    crun = runtime_check("crun", False, CRUN_SAID)
    assert crun.status == WARN and "http+docker" not in crun.detail and "500" not in crun.detail
    assert crun.detail == ("cannot start containers: cgroups in hybrid mode not supported, drop all controllers from "
                           "cgroupv2 (crun needs a pure cgroup v1 or v2 host; use runc here)")
    assert runtime_check("runc", False, "boom").status == FAIL  # the default runtime: containers cannot run
    assert runtime_check("runc", True, "starts containers").status == OK


def test_the_bottom_line_says_what_the_levels_mean_for_a_run():
    found = [Check("env vm", True, "qemu"), Check("accelerator", False, "KVM unusable: it aborted", WARN),
             Check("docker", False, "the engine does not answer: start dockerd"), Check("SMT", False, "on", WARN),
             Check("fio", True, "fio-3.33")]
    assert bottom_line(found) == [
        "2 ok, 2 warnings, 1 failure",
        "VMs will run under TCG software emulation, not KVM: their figures measure emulation",
        "containers will not run: the engine does not answer: start dockerd",
        "numbers will be noisier than on a tuned host (SMT): compare runs on this host with each other, and read "
        "every overhead beside the A/A floor"]
    missing = bottom_line([Check("env vm", False, "qemu is not installed")])
    assert missing[1] == "VMs will not run: qemu is not installed"
