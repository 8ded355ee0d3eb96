"""Network cross-check: vbench's tcp-stream overhead at dockernet:bridge beside a hand-run iperf3's, same host.

First `vbench run` (the CLI, as a user runs it) measures tcp-stream natively and at dockernet:bridge; then, by
hand, an iperf3 server on the host's loopback and one in a `docker run` container of the guest image on the
default bridge, and `iperf3 -c` against each in interleaved rounds (order shuffled each round). The hand-run
overhead is the median of the per-round ratios native / bridge, minus one, as vbench pairs its rounds. Prints
both overheads and their difference last. Goal: within 5 percentage points.

    .venv/bin/python benchmarks/bridge_crosscheck.py [--rounds 7] [--seconds 3] [--tool iperf3|python]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import vbench
from vbench.envs.base import free_port, wait_serving
from vbench.images import guest_image
from vbench.stats import overhead_table

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "bench-bridge-crosscheck"
SUITE = """
name = "bridge-crosscheck"
[plan]
warmup_rounds = 1
min_rounds = {rounds}
max_rounds = {rounds}
timeout_s = 120
[[workload]]
name = "tcp-stream"
use = "net.tcp_stream"
params = {{ size = "128k", seconds = {seconds}, tool = "{tool}" }}
"""


def through_vbench(rounds: int, seconds: int, scratch: str, tool: str) -> tuple[float, float, float, list[str]]:
    """(overhead %, CI low, CI high, tools that ran) of tcp-stream @ dockernet:bridge from a real `vbench run`."""
    suite = Path(scratch) / "crosscheck.toml"
    suite.write_text(SUITE.format(rounds=rounds, seconds=seconds, tool=tool))
    results = Path(scratch) / "results"
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "vbench"), "run", "--suite", str(suite), "--env",
                           "native,dockernet:bridge", "--no-aa", "--results", str(results)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"vbench run failed: {done.stderr.strip().splitlines()[-1:]}")
    run_dir = next(results.iterdir())
    tools = sorted({json.loads(line)["info"].get("tool", "?") for line in
                    (run_dir / "trials.jsonl").read_text().splitlines() if json.loads(line)["status"] == "ok"})
    table = overhead_table(vbench.load(run_dir))
    row = table[(table["environment"] == "dockernet:bridge") & (table["metric"] == "throughput")].iloc[0]
    return float(row["overhead_pct"]), float(row["ci_low"]), float(row["ci_high"]), tools


def iperf3(host: str, port: int, seconds: int) -> float:
    """Mbit/s the receiver counted (iperf3 -J, end.sum_received)."""
    out = subprocess.run(["iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-l", "128K", "-J"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    report = json.loads(out)
    if report.get("error"):
        raise SystemExit(f"iperf3 against {host}:{port}: {report['error']}")
    return report["end"]["sum_received"]["bits_per_second"] / 1e6


def by_hand(rounds: int, seconds: int) -> tuple[float, dict]:
    """(overhead %, medians) of iperf3 against the container's bridge address vs the host's loopback."""
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-p", str(port), "-B", "127.0.0.1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    name = f"{RUN_ID}-{random.getrandbits(32):08x}"
    try:
        subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--label", f"vbench.run={RUN_ID}",
                        guest_image().tag, "iperf3", "-s", "-p", "5202"], check=True, capture_output=True)
        address = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                                 capture_output=True, text=True, check=True).stdout.strip()
        targets = {"native": ("127.0.0.1", port), "bridge": (address, 5202)}
        for host, target_port in targets.values():
            if not wait_serving(host, target_port):
                raise SystemExit(f"no iperf3 server answered at {host}:{target_port}")
        figures: dict[str, list[float]] = {side: [] for side in targets}
        rng = random.Random(11)
        for _ in range(1 + rounds):  # the first round warms up, as vbench's does
            order = list(targets)
            rng.shuffle(order)
            for side in order:
                figures[side].append(iperf3(*targets[side], seconds))
            time.sleep(0.2)
        ratios = [n / b for n, b in zip(figures["native"][1:], figures["bridge"][1:])]
        medians = {side: statistics.median(values[1:]) for side, values in figures.items()}
        return 100 * (statistics.median(ratios) - 1), medians
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--tool", choices=("iperf3", "python"), default="iperf3",
                        help="vbench's client: iperf3 (the default), or python to see what the stdlib fallback gives")
    args = parser.parse_args()
    if not shutil.which("iperf3"):
        raise SystemExit("iperf3 is not installed (./setup.sh installs it)")
    with tempfile.TemporaryDirectory() as scratch:
        print(f"vbench run: tcp-stream, native and dockernet:bridge, {args.rounds} rounds of {args.seconds} s ...",
              flush=True)
        overhead, low, high, tools = through_vbench(args.rounds, args.seconds, scratch, args.tool)
    print(f"  vbench: tcp-stream @ dockernet:bridge {overhead:+.1f}% [{low:+.1f}, {high:+.1f}] (client: "
          f"{', '.join(tools)})")
    print(f"by hand: iperf3, loopback vs the container's bridge address, {args.rounds} rounds ...", flush=True)
    hand, medians = by_hand(args.rounds, args.seconds)
    print(f"  by hand: native {medians['native']:.0f} Mbit/s, bridge {medians['bridge']:.0f} Mbit/s, "
          f"{hand:+.1f}% (paired median)")
    gap = overhead - hand
    print(f"vbench - by hand: {gap:+.1f} pp (goal: within 5 pp): {'met' if abs(gap) <= 5 else 'missed'}")


if __name__ == "__main__":
    main()
