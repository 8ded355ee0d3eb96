"""The one runner: execute a workload invocation and print one JSON line (stdlib only).

Usage: ``python3 workloads/run.py '<invocation json>'`` (or ``-`` to read it from stdin), where the invocation is
``{"workload": "cpu.sha256", "params": {...}, "workdir": "/scratch"}``. The same file runs on the host, in a
container and in a VM; only the way vbench reaches it differs.

The printed line carries the workload's metrics (with unit and direction), the guest-side monotonic duration,
the guest-side CPU accounting (/proc/stat and getrusage deltas) and the guest's device I/O (/proc/diskstats).
Exit status 0 with ``"ok": true``, or 1 with ``"ok": false`` and the error; parameters that break the
workload's declared rules (``workloads.rules``) are that error, before the workload starts.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import resource
import sys
import time
import traceback

# The directory holding the workloads package, last: installed from a wheel, it is a virtualenv's site-packages,
# whose numpy (say) must not stand in for the interpreter's own in a native trial.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from workloads.rules import check_workload  # noqa: E402  (importable only once _ROOT is on the path)

PROC_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
RUSAGE_FIELDS = ("ru_utime", "ru_stime", "ru_maxrss", "ru_inblock", "ru_oublock", "ru_nvcsw", "ru_nivcsw",
                 "ru_minflt", "ru_majflt")


def load_workload(name: str, module: str | None = None, paths: list[str] | None = None):
    """The module ``workloads.<kind>.<name>`` for ``"<kind>.<name>"``, or a third-party workload's own ``module``,
    found in ``paths`` (where the environment sees the third-party packages; appended, so they shadow nothing)."""
    parts = name.split(".")
    if len(parts) != 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"workload name must be '<kind>.<name>', got {name!r}")
    if module is None:
        return importlib.import_module(f"workloads.{parts[0]}.{parts[1]}")
    sys.path.extend(path for path in paths or [] if path not in sys.path)
    return importlib.import_module(module)


def invoked(invocation: dict):
    """The workload module an invocation names (``workload``, and ``module`` and ``plugins`` for a third party's)."""
    return load_workload(invocation["workload"], invocation.get("module"), invocation.get("plugins"))


def read_proc_stat(path: str = "/proc/stat") -> dict:
    """The aggregate ``cpu`` line of /proc/stat in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(path) as f:
        for line in f:
            if line.startswith("cpu "):
                values = [int(v) for v in line.split()[1:len(PROC_STAT_FIELDS) + 1]]
                return {k: v / ticks for k, v in zip(PROC_STAT_FIELDS, values)}
    raise ValueError(f"no cpu line in {path}")


def read_diskstats(path: str = "/proc/diskstats") -> dict:
    """Bytes read and written by whole block devices (partitions, loop and ram devices left out)."""
    totals = {"read_bytes": 0, "write_bytes": 0}
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        return totals
    for line in lines:
        fields = line.split()
        if len(fields) < 10:
            continue
        dev = fields[2]
        if dev.startswith(("loop", "ram", "dm-", "md", "sr", "zram")):
            continue
        if not os.path.exists(f"/sys/block/{dev}"):
            continue  # a partition: its bytes are already in its disk's line
        totals["read_bytes"] += int(fields[5]) * 512
        totals["write_bytes"] += int(fields[9]) * 512
    return totals


def rusage(who: int) -> dict:
    usage = resource.getrusage(who)
    return {k[3:]: getattr(usage, k) for k in RUSAGE_FIELDS}


def delta(after: dict, before: dict) -> dict:
    return {k: round(after[k] - before[k], 6) for k in after}


def describe_metrics(module, metrics: dict) -> dict:
    declared = getattr(module, "METRICS", {})
    out = {}
    for name, value in metrics.items():
        if name not in declared:
            raise ValueError(f"workload returned undeclared metric {name!r}")
        unit, higher = declared[name]
        out[name] = {"value": float(value), "unit": unit, "higher_is_better": bool(higher)}
    return out


def fill_params(module, params: dict) -> dict:
    merged = dict(getattr(module, "PARAMS", {}))
    merged.update(params)
    return merged


def result_record(workload: str, params: dict, metrics: dict, duration: float, module=None) -> dict:
    """The runner's record for figures measured outside a guest (start-up latency, timed by the host; sliced
    blocks); ``module`` is the workload's, when the host has it already."""
    module = module or load_workload(workload)
    return {"ok": True, "workload": workload, "params": params, "metrics": describe_metrics(module, metrics),
            "primary": getattr(module, "PRIMARY", None), "flags": [], "info": {}, "duration_s": round(duration, 6)}


def execute(invocation: dict) -> dict:
    """Run one invocation and return the result record (raises on workload failure)."""
    module = invoked(invocation)
    workdir = invocation.get("workdir") or os.getcwd()
    if invocation.get("user_dir"):
        os.environ["VBENCH_USER_DIR"] = invocation["user_dir"]  # a user's own benchmarks, shared read-only
    # The host checked these when it parsed the suite; checked again because an invocation may come from anywhere.
    params = check_workload(module, fill_params(module, invocation.get("params", {})))
    reason = module.available() if hasattr(module, "available") else None
    if reason:
        raise RuntimeError(f"unavailable: {reason}")
    stat0, self0, kids0, disk0 = read_proc_stat(), rusage(resource.RUSAGE_SELF), \
        rusage(resource.RUSAGE_CHILDREN), read_diskstats()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):
        result = module.run(params, workdir)
    duration = time.monotonic() - t0
    stat1, self1, kids1, disk1 = read_proc_stat(), rusage(resource.RUSAGE_SELF), \
        rusage(resource.RUSAGE_CHILDREN), read_diskstats()
    return {
        "ok": True,
        "workload": invocation["workload"],
        "params": params,
        "metrics": describe_metrics(module, result["metrics"]),
        "primary": result.get("primary", getattr(module, "PRIMARY", None)),
        "flags": list(result.get("flags", [])),
        "info": result.get("info", {}),
        "duration_s": round(duration, 6),
        "cpu": {"proc_stat": delta(stat1, stat0), "ncpu": os.cpu_count()},
        "rusage": {"self": delta(self1, self0), "children": delta(kids1, kids0)},
        "diskstats": delta(disk1, disk0),
        "guest": {"python": platform.python_version(), "kernel": platform.release(),
                  "hostname": platform.node()},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: run.py '<invocation json>' | -", file=sys.stderr)
        return 2
    text = sys.stdin.read() if argv[1] == "-" else argv[1]
    try:
        record = execute(json.loads(text))
        status = 0
    except Exception as exc:  # the runner's contract: every failure becomes one JSON line
        record = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        status = 1
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
