"""The host's I/O noise, whole trials against paired slices, measured before the design is chosen (issue 28).

For each operation of the io suite that has a unit of work (fio jobs through a paused fio, fsync, SQLite
commits; ``metadata`` has none) and each pair of environments (native A/A: two native workers on two files;
native against a worker in a container of vbench's guest image on a Docker volume), every round starts two new
warm workers (``workloads/worker.py``), each laying out its own new file, and then measures the same pair four
ways, both sides getting the same time (``--seconds`` a side) each way, after one untimed cycle of 50 ms slices:

- **whole**: one long slice a side, the order alternating by round (a whole trial from a warm worker);
- **sliced** at 50, 200 and 1000 ms, in palindromic cycles (A B B A ...), read by
  four estimators of the round's log ratio: ``tot`` (total work over total time, each side), ``pair`` (the
  median over adjacent slice pairs of their log ratio), ``cyc`` (the median over cycles of each cycle's log
  ratio, A's two slices against B's two) and ``med`` (the log ratio of the sides' median slice rates).

Printed last: per operation, pair and method, the SD across rounds of the per-round log ratio (what a paired
CI is made of; in %), and the mean (an offset between the sides: for A/A it should be 0). ``--keep-files``
keeps one pair of workers (one pair of files) for all rounds of an operation instead, to show a placement
offset that new files turn into noise; ``--same-dir`` puts both native files in one directory, ``--b-first``
lays out B's file before A's (A's is laid out first otherwise: on this kind of host the file laid out last ran
1 MiB sequential I/O 30-70% faster for the whole round, whatever the file size or directory) and
``--together`` lays out both at once.

    .venv/bin/python benchmarks/io_noise.py [--ops seq-read-1m,fsync-4k] [--rounds 6] [--seconds 1]
        [--size 256M] [--no-docker] [--keep-files] [--json out.json]

Scratch files go to ``--dir`` natively (default /var/tmp, the same file system as Docker's volumes here) and to
a labelled volume in the container; both are removed at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from noise import ROOT, Worker  # noqa: E402
from vbench.images import guest_image  # noqa: E402

RUN_ID = "bench-io-noise"
SLICE_LENGTHS = (0.05, 0.2, 1.0)
ESTIMATORS = ("tot", "pair", "cyc", "med")
SUITE = ROOT / "vbench" / "suites" / "io.toml"


def suite_ops(size: str) -> dict[str, dict]:
    """name -> invocation (workload and params) of the io suite's workloads, fio files of ``size``."""
    ops = {}
    for entry in tomllib.loads(SUITE.read_text())["workload"]:
        params = dict(entry.get("params", {}))
        if entry["use"] == "io.fio":
            params["size"] = size
        ops[entry["name"]] = {"workload": entry["use"], "params": params}
    return ops


class Volume:
    """A container of the guest image with a labelled volume at /scratch, kept running for its workers."""

    def __init__(self) -> None:
        self.volume = subprocess.run(["docker", "volume", "create", "--label", f"vbench.run={RUN_ID}"],
                                     check=True, capture_output=True, text=True).stdout.strip()
        argv = ["docker", "run", "-d", "--rm", "--label", f"vbench.run={RUN_ID}", "--network", "none",
                "-v", f"{ROOT / 'workloads'}:/opt/vbench/workloads:ro", "-v", f"{self.volume}:/scratch",
                "-w", "/scratch", guest_image().tag, "sleep", "infinity"]
        self.id = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()

    def worker_argv(self) -> list[str]:
        return ["docker", "exec", "-i", self.id, "python3", "/opt/vbench/workloads/worker.py"]

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.id], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", self.volume], capture_output=True)


def slice_work(prepared: dict, reply: dict, calls: int) -> float:
    return reply["work"] if prepared.get("measured") else prepared["amount"] * calls


def slice_rate(prepared: dict, reply: dict, calls: int) -> float:
    return slice_work(prepared, reply, calls) / reply["elapsed_s"]


def one_round(a: Worker, b: Worker, prep_a: dict, prep_b: dict, parity: int, seconds: float) -> dict[str, float]:
    """One round's log ratios of A's rate over B's (positive: B slower), per method."""
    unit_s = float(prep_a["unit_s"])
    out: dict[str, float] = {}
    calls = max(1, round(seconds / unit_s))
    first, second = ((a, prep_a), (b, prep_b)) if parity % 2 == 0 else ((b, prep_b), (a, prep_a))
    for worker in (a, b, b, a):  # warm-up, not kept: the switch from layout (or the previous method) to I/O
        worker.ask(op="slice", calls=max(1, round(SLICE_LENGTHS[0] / unit_s)))
    rates = {}
    for worker, prep in (first, second):
        rates[id(worker)] = slice_rate(prep, worker.ask(op="slice", calls=calls), calls)
    out["whole"] = math.log(rates[id(a)] / rates[id(b)])
    for length in SLICE_LENGTHS:
        calls = max(1, round(length / unit_s))
        a_slices, b_slices, pairs, per_cycle = [], [], [], []
        for _ in range(max(1, round(seconds / (2 * length)))):
            ra1 = a.ask(op="slice", calls=calls)
            rb1 = b.ask(op="slice", calls=calls)
            rb2 = b.ask(op="slice", calls=calls)
            ra2 = a.ask(op="slice", calls=calls)
            cycle_a = sum(slice_work(prep_a, r, calls) for r in (ra1, ra2)) / (ra1["elapsed_s"] + ra2["elapsed_s"])
            cycle_b = sum(slice_work(prep_b, r, calls) for r in (rb1, rb2)) / (rb1["elapsed_s"] + rb2["elapsed_s"])
            per_cycle.append(math.log(cycle_a / cycle_b))
            for ra, rb in ((ra1, rb1), (ra2, rb2)):
                ea, eb = slice_rate(prep_a, ra, calls), slice_rate(prep_b, rb, calls)
                a_slices.append((ra, ea))
                b_slices.append((rb, eb))
                pairs.append(math.log(ea / eb))
        total = {}
        for name, prep, slices in (("a", prep_a, a_slices), ("b", prep_b, b_slices)):
            work = sum(slice_work(prep, r, calls) for r, _ in slices)
            total[name] = work / sum(r["elapsed_s"] for r, _ in slices)
        tag = f"{round(1000 * length)}ms"
        out[f"{tag} tot"] = math.log(total["a"] / total["b"])
        out[f"{tag} pair"] = statistics.median(pairs)
        out[f"{tag} cyc"] = statistics.median(per_cycle)
        out[f"{tag} med"] = math.log(statistics.median(e for _, e in a_slices)
                                     / statistics.median(e for _, e in b_slices))
    return out


def prepared(worker: Worker, invocation: dict, workdir: str) -> dict:
    return worker.ask(op="prepare", workload=invocation["workload"], params=invocation["params"], workdir=workdir)


def measure(ops: dict, pairs: dict, args) -> dict:
    """(op, pair) -> method -> per-round log ratios."""
    figures: dict = {(op, pair): {} for op in ops for pair in pairs}

    def record(op: str, pair: str, ratios: dict) -> None:
        for method, value in ratios.items():
            figures[op, pair].setdefault(method, []).append(value)

    def pair_rounds(op: str, pair: str, invocation: dict, rounds: range) -> None:
        """``rounds`` of one pair of new workers (each laying out its file as ``args`` says), then closed."""
        (a, dir_a), (b, dir_b) = pairs[pair][0](), pairs[pair][1]()
        try:
            if args.together:
                with ThreadPoolExecutor(2) as pool:
                    prep_a, prep_b = pool.map(prepared, (a, b), (invocation, invocation), (dir_a, dir_b))
            elif args.b_first:
                prep_b = prepared(b, invocation, dir_b)
                prep_a = prepared(a, invocation, dir_a)
            else:
                prep_a, prep_b = prepared(a, invocation, dir_a), prepared(b, invocation, dir_b)
            for r in rounds:
                record(op, pair, one_round(a, b, prep_a, prep_b, r, args.seconds))
        finally:
            a.close()
            b.close()

    if args.keep_files:
        for op, invocation in ops.items():
            for pair in pairs:
                pair_rounds(op, pair, invocation, range(args.rounds))
                print(f"  {op} {pair}: done", flush=True)
        return figures
    for r in range(args.rounds):
        for op, invocation in ops.items():
            for pair in pairs:
                pair_rounds(op, pair, invocation, range(r, r + 1))
        print(f"round {r + 1}/{args.rounds} done ({time.strftime('%H:%M:%S')})", flush=True)
    return figures


def print_table(figures: dict) -> None:
    methods = ["whole"] + [f"{round(1000 * s)}ms {e}" for s in SLICE_LENGTHS for e in ESTIMATORS]
    print("\n## SD across rounds of the per-round log ratio (mean in brackets), in %\n")
    print("| operation | pair | rounds | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for (op, pair), by_method in figures.items():
        if not by_method:
            continue
        cells = []
        for method in methods:
            values = by_method.get(method, [])
            sd = 100 * statistics.stdev(values) if len(values) > 1 else math.nan
            cells.append(f"{sd:.1f} ({100 * statistics.fmean(values):+.1f})" if values else "-")
        print(f"| {op} | {pair} | {len(by_method['whole'])} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", help="comma-separated io suite workloads (default: all with a unit of work)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds a side per method and round")
    parser.add_argument("--size", default="256M", help="each fio file's size")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where native workers put their files")
    parser.add_argument("--no-docker", action="store_true", help="native A/A only")
    parser.add_argument("--keep-files", action="store_true", help="one pair of files per operation for all rounds")
    parser.add_argument("--same-dir", action="store_true", help="both native workers' files in one directory")
    parser.add_argument("--b-first", action="store_true", help="lay out B's file before A's (A's first otherwise)")
    parser.add_argument("--together", action="store_true", help="lay out both files at once (none of them last)")
    parser.add_argument("--json", type=Path, help="also write the per-round figures here")
    args = parser.parse_args()
    ops = suite_ops(args.size)
    ops.pop("metadata", None)  # no unit of work: whole trials only
    if args.ops:
        unknown = [o for o in args.ops.split(",") if o not in ops]
        if unknown:
            raise SystemExit(f"io_noise.py: unknown or unsliceable op(s) {', '.join(unknown)}; choose from "
                             f"{', '.join(ops)}")
        ops = {o: ops[o] for o in args.ops.split(",")}
    if args.rounds < 2 or args.seconds <= 0:
        raise SystemExit("io_noise.py: --rounds must be at least 2 and --seconds positive")
    if not shutil.which("fio"):
        raise SystemExit("io_noise.py: fio is not installed (./setup.sh installs it)")
    scratch = Path(tempfile.mkdtemp(prefix="vbench-io-noise-", dir=args.dir))
    native = ["/usr/bin/python3", str(ROOT / "workloads" / "worker.py")]  # the interpreter the runner uses

    def native_side(name: str):
        def make():
            workdir = scratch / ("same" if args.same_dir else name)
            workdir.mkdir(exist_ok=True)
            return Worker(native), str(workdir)
        return make

    pairs = {"native A/A": (native_side("a"), native_side("b"))}
    docker = not args.no_docker and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    volume = Volume() if docker else None
    if volume:
        pairs["native vs docker:volume"] = (native_side("a"), lambda: (Worker(volume.worker_argv()), "/scratch"))
    try:
        figures = measure(ops, pairs, args)
    finally:
        if volume:
            volume.remove()
        shutil.rmtree(scratch, ignore_errors=True)
    if not docker:
        print("\nno container pair: the Docker engine does not answer (or --no-docker)")
    if args.json:
        args.json.write_text(json.dumps({f"{op} | {pair}": v for (op, pair), v in figures.items()}, indent=1))
    print_table(figures)


if __name__ == "__main__":
    main()
