"""The host's noise, measured before a design is chosen against it (issue 14, item 1).

Warm workers (workloads/worker.py) run a cpu workload's unit of work back to back, natively and in a container
of vbench's guest image, unpinned and pinned to CPU 1 (this driver stays on CPU 0 throughout). Two tables are
printed last:

- **Trials**: in each placement (native, or the container), for trial lengths of 0.1, 0.5, 2 and 5 s, the
  coefficient of variation of the rate over consecutive trials, and the correlation of consecutive trials
  (lag 1 and 2, on log rates): how noisy one trial is, and how long the host's state lasts.
- **Paired slices**: two warm workers alternating slices in a balanced order (A B, B A, ...), each pair a log
  ratio of their times. A/A pairs (both native) give the noise a paired design is left with; native against the
  container gives the same with the environment in between. The CI half-width is what 30 s of such pairs would
  give (1.96 SD / sqrt(pairs), in percentage points).

    .venv/bin/python benchmarks/noise.py [--workloads cpu.pyloop,cpu.sieve] [--budget 6] [--no-docker]

The container is driven with `docker exec -i` (the CLI: one pipe in, one out, no multiplexed frames); it is
labelled ``vbench.run=bench-noise`` and removed at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vbench.images import guest_image  # noqa: E402

RUN_ID = "bench-noise"
# units of a few milliseconds, so every slice length below is a whole number of calls
UNITS = {"cpu.pyloop": {"loops": 10_000}, "cpu.sieve": {"limit": 20_000}, "cpu.sha256": {"size": "256k"},
         "cpu.zlib": {"size": "64k"}, "cpu.matmul": {"n": 128, "threads": 1}}
TRIAL_LENGTHS = (0.1, 0.5, 2.0, 5.0)
SLICE_LENGTHS = (0.016, 0.043, 0.177)
MIN_TRIALS = 6


class Worker:
    """One warm worker process over its pipe."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.proc.args} died (exit {self.proc.wait()})")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise SystemExit(f"worker {self.proc.args}: {reply.get('error')}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


class Container:
    """A container of the guest image with the workloads mounted read-only, kept running for its workers."""

    def __init__(self, cpus: str | None):
        argv = ["docker", "run", "-d", "--rm", "--label", f"vbench.run={RUN_ID}", "--network", "none",
                "-v", f"{ROOT / 'workloads'}:/opt/vbench/workloads:ro", "-w", "/tmp"]
        if cpus is not None:
            argv += ["--cpuset-cpus", cpus]
        self.id = subprocess.run([*argv, guest_image().tag, "sleep", "infinity"], check=True,
                                 capture_output=True, text=True).stdout.strip()

    def worker_argv(self) -> list[str]:
        return ["docker", "exec", "-i", self.id, "python3", "/opt/vbench/workloads/worker.py"]

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.id], capture_output=True)


def native_argv(cpu: int | None) -> list[str]:
    argv = ["/usr/bin/python3", str(ROOT / "workloads" / "worker.py")]
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


def autocorrelation(values: list[float], lag: int) -> float:
    if len(values) <= lag + 2:
        return math.nan
    mean = statistics.fmean(values)
    dev = [v - mean for v in values]
    denominator = sum(d * d for d in dev)
    return sum(dev[i] * dev[i + lag] for i in range(len(dev) - lag)) / denominator if denominator else math.nan


def trial_noise(worker: Worker, unit_s: float, budget: float, lengths) -> dict[float, dict]:
    """Per trial length: CV of consecutive trials' rates and their lag-1/lag-2 correlation."""
    rows = {}
    for length in lengths:
        calls = max(1, round(length / unit_s))
        count = max(MIN_TRIALS, int(budget / length))
        durations = worker.ask(op="series", calls=calls, count=count)["elapsed_s"]
        rates = [calls / d for d in durations]
        logs = [math.log(r) for r in rates]
        rows[length] = {"n": count, "cv": statistics.stdev(rates) / statistics.fmean(rates),
                        "lag1": autocorrelation(logs, 1), "lag2": autocorrelation(logs, 2),
                        "min_over_max": min(rates) / max(rates)}
    return rows


def paired_slices(a: Worker, b: Worker, unit_s: float, budget: float, lengths) -> dict[float, dict]:
    """Per slice length: SD of log(time A / time B) over pairs taken A B, B A, ... and the 30 s half-width."""
    rows = {}
    for length in lengths:
        calls = max(1, round(length / unit_s))
        ratios = []
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline or len(ratios) < MIN_TRIALS:
            first, second = (a, b) if len(ratios) % 2 == 0 else (b, a)
            t_first = first.ask(op="slice", calls=calls)["elapsed_s"]
            t_second = second.ask(op="slice", calls=calls)["elapsed_s"]
            t_a, t_b = (t_first, t_second) if first is a else (t_second, t_first)
            ratios.append(math.log(t_a / t_b))
        sd = statistics.stdev(ratios)
        slice_s = calls * unit_s
        pairs_in_30s = 30 / (2 * slice_s)
        rows[length] = {"pairs": len(ratios), "sd": sd, "lag1": autocorrelation(ratios, 1),
                        "median": statistics.median(ratios), "half_width_30s": 196 * sd / math.sqrt(pairs_in_30s)}
    return rows


def prepared(worker: Worker, workload: str) -> float:
    return worker.ask(op="prepare", workload=workload, params=UNITS[workload], workdir="/tmp")["unit_s"]


def measure(workload: str, placements: dict, args) -> tuple[dict, dict]:
    trials, pairs = {}, {}
    for name, (make_a, make_b) in placements.items():
        a, b = Worker(make_a()), Worker(make_b())
        try:
            unit_s = prepared(a, workload)
            trials[name.replace("native vs ", "")] = trial_noise(b, prepared(b, workload), args.budget, args.trials)
            pairs[name] = paired_slices(a, b, unit_s, args.budget / 2, args.slices)
        finally:
            a.close()
            b.close()
        print(f"  {workload} {name}: done", flush=True)
    return trials, pairs


def placements(docker: bool) -> tuple[dict, list]:
    """name -> (argv of worker A, argv of worker B); and the containers to remove after."""
    containers = []
    spec = {"native": (lambda: native_argv(None), lambda: native_argv(None)),
            "native pinned": (lambda: native_argv(1), lambda: native_argv(1))}
    if docker:
        free, pinned = Container(None), Container("1")
        containers += [free, pinned]
        spec["native vs docker"] = (lambda: native_argv(None), free.worker_argv)
        spec["native vs docker pinned"] = (lambda: native_argv(1), pinned.worker_argv)
    return spec, containers


def print_tables(results: dict) -> None:
    print("\n## Trials: consecutive trials of one warm worker (worker B of each placement)\n")
    print("| workload | placement | trial | n | CV | min/max | lag-1 r | lag-2 r |")
    print("|---|---|---|---|---|---|---|---|")
    for workload, (trials, _) in results.items():
        for name, rows in trials.items():
            for length, row in rows.items():
                print(f"| {workload} | {name} | {length:g} s | {row['n']} | "
                      f"{100 * row['cv']:.1f}% | {row['min_over_max']:.2f} | {row['lag1']:+.2f} | "
                      f"{row['lag2']:+.2f} |")
    print("\n## Paired slices: A B, B A, ... (A/A for native; native against the container)\n")
    print("| workload | pair | slice | pairs | SD of log ratio | lag-1 r | median ratio | 30 s half-width |")
    print("|---|---|---|---|---|---|---|---|")
    for workload, (_, pairs) in results.items():
        for name, rows in pairs.items():
            for length, row in rows.items():
                print(f"| {workload} | {name} | {1000 * length:.0f} ms | {row['pairs']} | {100 * row['sd']:.1f}% | "
                      f"{row['lag1']:+.2f} | {100 * (math.exp(row['median']) - 1):+.1f}% | "
                      f"+-{row['half_width_30s']:.1f} pp |")


def seconds_list(text: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.split(","))
    if not all(0.001 <= v <= 60 for v in values):
        raise argparse.ArgumentTypeError("each length must be from 0.001 to 60 s")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="cpu.pyloop,cpu.sieve,cpu.matmul",
                        help=f"comma-separated, of {', '.join(UNITS)}")
    parser.add_argument("--budget", type=float, default=6.0,
                        help="seconds of trials per length and placement (at least six trials are taken)")
    parser.add_argument("--trials", type=seconds_list, default=TRIAL_LENGTHS, help="trial lengths, s (0.1,0.5,2,5)")
    parser.add_argument("--slices", type=seconds_list, default=SLICE_LENGTHS,
                        help="slice lengths, s (0.016,0.043,0.177)")
    parser.add_argument("--no-docker", action="store_true", help="native placements only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    unknown = [w for w in workloads if w not in UNITS]
    if unknown:
        raise SystemExit(f"noise.py: unknown workload(s) {', '.join(unknown)}; choose from {', '.join(UNITS)}")
    if os.cpu_count() < 2 or not shutil.which("taskset"):
        raise SystemExit("noise.py: pinning needs two CPUs and taskset")
    docker = not args.no_docker and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    spec, containers = placements(docker)
    driver_cpus = os.sched_getaffinity(0)
    results = {}
    try:
        os.sched_setaffinity(0, {0})  # the driver stays off the pinned workers' CPU
        for workload in workloads:
            results[workload] = measure(workload, spec, args)
    finally:
        os.sched_setaffinity(0, driver_cpus)
        for container in containers:
            container.remove()
    if not docker:
        print("\nno container placements: the Docker engine does not answer (or --no-docker)")
    if args.json:
        args.json.write_text(json.dumps({w: {"trials": t, "pairs": p} for w, (t, p) in results.items()}, indent=1))
    print_tables(results)


if __name__ == "__main__":
    main()
