"""A native fio and a container's fio, both paused and resumed by one host process: is the containers' sequential
offset (issue 28: sliced seq rows read containers 3-14% faster than native) in vbench's workers or in the fios?

No vbench worker, pipe or layout takes part. The benchmark lays out two files one after the other (1 MiB
direct writes), syncs, waits ``--settle`` seconds, starts a container (the guest image, the second file's
directory bind-mounted) and starts one time-based fio with ``--thread`` natively and one with ``docker exec``,
then stops both. Each round runs cycles of 50 ms slices in palindromic order (the pair's order drawn per
cycle, the first cycle discarded), as vbench's blocks do: SIGCONT, sleep, SIGSTOP, wait until every thread has
stopped, and the work is the kernel's count (``/proc/<pid>/io`` read_bytes + write_bytes). Printed: the mean
and SD over rounds of the container's per-round log ratio against native (positive: the container slower).
``--swap`` gives the native fio the second file and the container the first, so an offset that follows the
file rather than the side changes sign; but one invocation's pair of fios is one draw (a fio's speed was steady
for its life and differed between processes), so ``--cross`` starts four, each side on both files, and rounds
alternate which file each side uses: it prints the side's part and the file's part of the offset, both from the
same invocation. ``--slice`` sets a slice's length. ``--hugetlb`` runs every fio with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` and ``--iomem_align=2m`` (its buffers in transparent huge pages, as vbench
runs fio). ``--whole`` instead runs a fresh fio for ``--seconds`` per side and round, order alternating (fio's own
figure, no pausing). Each run also prints the two sides' rates per round.

Which part of the container matters (cgroup v1; ``--controllers``, by default cpu, cpuacct, blkio, memory and
pids, says which): ``--native-cgroup`` moves the native fio into cgroups of its own as Docker does for a
container, ``--container-root`` moves the container's fio into the controllers' roots, ``--toggle`` moves it
there and back every other round (the same files and fios: no placement between the two figures, which are
printed apart), ``--native-starts-in root|own`` starts the native fio there (its memory charged there from its
first allocation), and ``--docker-run`` adds options to the container's ``docker run`` (e.g.
``--docker-run=--security-opt=seccomp=unconfined``).

    .venv/bin/python benchmarks/paused_fio.py [--rw read] [--bs 1M] [--iodepth 16] [--rounds 12] [--swap]
        [--cross] [--slice 0.05] [--hugetlb] [--whole] [--seconds 2] [--native-cgroup] [--container-root]
        [--toggle] [--native-starts-in root|own] [--controllers cpu,blkio] [--docker-run=OPTIONS] [--dir /var/tmp]

It needs fio, a running Docker engine and vbench's guest image (``vbench images build``); it measures, so nothing
else should run meanwhile.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vbench.images import guest_image  # noqa: E402
from vbench.slices import palindrome  # noqa: E402
from workloads.io import fio  # noqa: E402

CGROUP_V1 = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "cpuacct", "blkio", "memory", "pids")
HUGE = f"GLIBC_TUNABLES={fio.HUGE_TUNABLE}"
CYCLES = 6  # per round; the first is discarded


def job(args, path: str, seconds: float | None) -> list[str]:
    run = ["--runtime=3600", "--thread"] if seconds is None else [f"--runtime={seconds}"]
    run += [f"--iomem_align={fio.HUGE_PAGE}"] if args.hugetlb else []  # every buffer within whole huge pages
    return ["fio", "--name=paused", f"--filename={path}", f"--rw={args.rw}", f"--bs={args.bs}",
            f"--iodepth={args.iodepth}", "--ioengine=libaio", "--direct=1", f"--size={args.size}", "--time_based",
            "--output-format=json", *run]


def stop(pid: int) -> float:
    """SIGSTOP, then wait until every thread has stopped: when the signal was sent (as PausedFio does)."""
    os.kill(pid, signal.SIGSTOP)
    sent = time.perf_counter()
    while not fio.threads_stopped(pid):
        time.sleep(0.0001)
    return sent


def sliced_round(pids: dict[str, int], rng: random.Random, slice_s: float) -> dict[str, float]:
    """Each side's rate (bytes per second of running time) over the kept cycles of one round."""
    work = {side: 0 for side in pids}
    spent = {side: 0.0 for side in pids}
    for cycle in range(CYCLES):
        for side in palindrome(rng.sample(sorted(pids), len(pids))):
            pid = pids[side]
            before, start = fio.io_bytes(pid), time.perf_counter()
            os.kill(pid, signal.SIGCONT)
            time.sleep(slice_s)
            sent = stop(pid)
            if cycle:
                work[side] += fio.io_bytes(pid) - before
                spent[side] += sent - start
    return {side: work[side] / spent[side] for side in pids}


def move(pid: int, group: str, controllers: tuple[str, ...] = CONTROLLERS) -> None:
    """Every thread of ``pid`` into ``group`` ("" for the root) of each v1 controller in ``controllers``."""
    for controller in controllers:
        directory = CGROUP_V1 / controller / group
        directory.mkdir(exist_ok=True)
        (directory / "cgroup.procs").write_text(str(pid))


def own_groups(pid: int, controllers: tuple[str, ...]) -> dict[str, str]:
    """The v1 cgroup of ``pid`` in each of ``controllers`` (from /proc/<pid>/cgroup, without the leading /)."""
    groups = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(","):
            if name in controllers:
                groups[name] = path.lstrip("/")
    return groups


def fio_rate(argv: list[str]) -> float:
    out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    job_out = out["jobs"][0]
    return float(job_out["read"]["bw_bytes"] + job_out["write"]["bw_bytes"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rw", default="read", choices=["read", "write", "randread", "randwrite"])
    parser.add_argument("--bs", default="1M")
    parser.add_argument("--iodepth", type=int, default=16)
    parser.add_argument("--size", default="256M")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--settle", type=float, default=6.0)
    parser.add_argument("--swap", action="store_true", help="the native fio on the container's file and back")
    parser.add_argument("--whole", action="store_true", help="fresh fio runs of --seconds instead of paused ones")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--slice", type=float, default=fio.SLICE_S, help="seconds a fio runs per slice")
    parser.add_argument("--native-cgroup", action="store_true", help="the native fio in cgroups of its own")
    parser.add_argument("--container-root", action="store_true", help="the container's fio in the root cgroups")
    parser.add_argument("--docker-run", default="", help="more options of the container's docker run, e.g. "
                        "'--security-opt seccomp=unconfined'")
    parser.add_argument("--native-starts-in", choices=["root", "own"],
                        help="start the native fio in the roots of --controllers, or in cgroups of its own there "
                             "(moved before fio runs, so its memory is charged there from the start)")
    parser.add_argument("--hugetlb", action="store_true", help=f"every fio with {HUGE}")
    parser.add_argument("--cross", action="store_true", help="four fios, each side on both files: rounds alternate "
                        "which file each side uses, parting the side's offset from the file's")
    parser.add_argument("--toggle", action="store_true",
                        help="the container's fio in the roots of --controllers every other round, back in its own in "
                             "the others (the same files: no placement between the two figures)")
    parser.add_argument("--controllers", default=",".join(CONTROLLERS),
                        help="the v1 controllers the cgroup options move between (default: %(default)s)")
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if (args.native_cgroup or args.container_root or args.toggle or args.native_starts_in) \
            and not (CGROUP_V1 / "blkio").is_dir():
        parser.error("the cgroup options need cgroup v1 (no /sys/fs/cgroup/blkio here)")
    controllers = tuple(c for c in args.controllers.split(",") if c)
    if not set(controllers) <= set(CONTROLLERS):
        parser.error(f"--controllers: each one of {', '.join(CONTROLLERS)}")
    if (args.native_cgroup or args.container_root or args.toggle) and args.whole:
        parser.error("--native-cgroup, --container-root and --toggle move paused fios: not with --whole")
    if args.cross and (args.whole or args.toggle or args.native_cgroup or args.container_root or args.native_starts_in):
        parser.error("--cross runs four paused fios where they start: not with --whole or the cgroup options")
    base = Path(tempfile.mkdtemp(prefix="paused-fio-", dir=args.dir))
    name = f"vbench-paused-fio-{os.getpid()}"
    procs: list[subprocess.Popen] = []
    try:
        for side in ("a", "b"):
            (base / side).mkdir()
            subprocess.run(["fio", "--name=layout", f"--filename={base / side / 'f'}", f"--size={args.size}",
                            "--rw=write", "--bs=1M", "--direct=1", "--ioengine=libaio", "--iodepth=16",
                            "--output-format=terse"], check=True, capture_output=True)
        subprocess.run(["sync"], check=True)
        time.sleep(args.settle)
        subprocess.run(["docker", "run", "-d", "--name", name, "-v", f"{base}:/data", *shlex.split(args.docker_run),
                        guest_image().tag, "sleep", "3600"], check=True, capture_output=True)
        native_file, container_file = (base / "b" / "f", "/data/a/f") if args.swap else (base / "a" / "f",
                                                                                          "/data/b/f")
        entry = "" if args.native_starts_in == "root" else name
        for controller in controllers if args.native_starts_in == "own" else ():
            (CGROUP_V1 / controller / entry).mkdir(exist_ok=True)
        moving = " ".join(f"echo $$ > {CGROUP_V1 / c / entry / 'cgroup.procs'};" for c in controllers)
        starts = ["sh", "-c", f"{moving} exec \"$@\"", "sh"] if args.native_starts_in else []
        exec_in = ["docker", "exec", *(["-e", HUGE] if args.hugetlb else []), name]
        if args.hugetlb:  # glibc then asks for transparent huge pages for what fio allocates (its I/O buffers)
            starts = ["env", HUGE, *starts]
        argv = {"native": lambda s: [*starts, *job(args, str(native_file), s)],
                "container": lambda s: [*exec_in, *job(args, container_file, s)]}
        rng = random.Random(args.seed)
        logs = []
        rates: dict[str, list[float]] = {"native": [], "container": []}
        if args.whole:
            for r in range(args.rounds):
                sides = ["native", "container"] if r % 2 == 0 else ["container", "native"]
                rate = {side: fio_rate(argv[side](args.seconds)) for side in sides}
                logs.append(math.log(rate["native"] / rate["container"]))
                for side in rates:
                    rates[side].append(rate[side])
        else:
            procs = [subprocess.Popen(argv[side](None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for side in ("native", "container")]
            if args.cross:  # each side on the other's file too: rounds alternate the files
                other_native, other_container = (base / "a" / "f", "/data/b/f") if args.swap else (
                    base / "b" / "f", "/data/a/f")
                procs += [subprocess.Popen([*starts, *job(args, str(other_native), None)], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL),
                          subprocess.Popen([*exec_in, *job(args, other_container, None)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
            time.sleep(2)
            inside = subprocess.run(["docker", "top", name, "-eo", "pid,args"], capture_output=True, text=True,
                                    check=True).stdout.splitlines()

            def in_container(path: str) -> int:
                return next(int(line.split()[0]) for line in inside if f"--filename={path}" in line
                            and line.split()[1] == "fio")
            container_pid = in_container(container_file)
            pids = {"native": procs[0].pid, "container": container_pid}
            crossed = {"native": procs[2].pid, "container": in_container(other_container)} if args.cross else {}
            for pid in crossed.values():
                stop(pid)
            if args.native_cgroup:
                move(pids["native"], name, controllers)
            if args.container_root:
                move(pids["container"], "", controllers)
            for pid in pids.values():
                stop(pid)
            own = own_groups(pids["container"], controllers)
            for r in range(args.rounds):
                if args.toggle:
                    for controller, group in own.items():
                        move(pids["container"], "" if r % 2 else group, (controller,))
                rate = sliced_round(crossed if crossed and r % 2 else pids, rng, args.slice)
                logs.append(math.log(rate["native"] / rate["container"]))
                for side in rates:
                    rates[side].append(rate[side])
            if args.cross:
                for state, part in (("native on the first file", logs[0::2]), ("native on the second", logs[1::2])):
                    print(f"  {state}: {100 * statistics.fmean(part):+.1f}% "
                          f"(SD {100 * statistics.stdev(part):.1f}, {len(part)} rounds)")
                side_part = (statistics.fmean(logs[0::2]) + statistics.fmean(logs[1::2])) / 2
                file_part = statistics.fmean(logs[0::2]) - side_part
                print(f"  the side's part {100 * side_part:+.1f}%, the file's {100 * file_part:+.1f}%")
            if args.toggle:
                for state, part in (("in its own cgroups", logs[0::2]), ("in the roots", logs[1::2])):
                    print(f"  the container's fio {state}: {100 * statistics.fmean(part):+.1f}% "
                          f"(SD {100 * statistics.stdev(part):.1f}, {len(part)} rounds)")
        how = f"whole {args.seconds:g} s fio runs" if args.whole else f"{args.slice * 1000:g} ms slices of paused fios"
        moved = "/".join(controllers)
        how += f", the native fio in {moved} cgroups of its own" if args.native_cgroup else ""
        how += f", the container's fio in the {moved} roots" if args.container_root else ""
        how += f", the native fio started in {args.native_starts_in} {moved} cgroups" if args.native_starts_in else ""
        how += f", docker run {args.docker_run}" if args.docker_run else ""
        print(f"{args.rw} {args.bs} QD{args.iodepth}, {how}{', files swapped' if args.swap else ''}: the container "
              f"against native {100 * statistics.fmean(logs):+.1f}% per round (SD {100 * statistics.stdev(logs):.1f}, "
              f"{len(logs)} rounds)")
        print("  rounds: " + " ".join(f"{100 * x:+.1f}" for x in logs))
        for side, values in rates.items():
            print(f"  {side} MiB/s: " + " ".join(f"{v / 2**20:.0f}" for v in values))
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        for proc in procs:  # SIGKILL ends a stopped process too; docker rm ended the container's
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", str(base)])
        for controller in controllers if args.native_cgroup or args.native_starts_in == "own" else ():
            with contextlib.suppress(OSError):  # its processes are gone: the kernel lets it be removed
                (CGROUP_V1 / controller / name).rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
