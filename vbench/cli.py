"""The ``vbench`` command. User errors become one line on stderr and an exit code (see vbench.errors)."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from vbench.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, VBenchError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args) or EXIT_OK
    except VBenchError as exc:
        print(f"vbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vbench: interrupted; finished trials are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vbench", description="Measure what virtualization really costs.")
    parser.add_argument("--version", action="version", version=f"vbench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite on several environments, interleaved")
    run.add_argument("--suite", required=True, help="built-in suite (cpu, mem, io) or path to a suite .toml")
    run.add_argument("--env", help="comma-separated environments, e.g. native,docker:volume (default: the "
                                   "suite's defaults that are available here)")
    run.add_argument("--quick", action="store_true", help="the suite's quick size: fewer rounds, smaller jobs")
    run.add_argument("--rounds", type=int, metavar="N", help="minimum measured rounds")
    run.add_argument("--max-rounds", type=int, metavar="N", help="round cap for adaptive repetition")
    run.add_argument("--warmup", type=int, metavar="N", help="warmup rounds (run and kept, not analysed)")
    run.add_argument("--ci-target", type=float, metavar="PP",
                     help="stop adding rounds when every overhead's 95%% CI half-width is below this (points)")
    run.add_argument("--time-budget", type=float, metavar="S", help="no new round after this many seconds")
    run.add_argument("--timeout", type=float, metavar="S", help="timeout of one trial")
    run.add_argument("--seed", type=int, help="seed of the shuffled order (default: random, recorded)")
    run.add_argument("--results", default="results", help="results directory (default: ./results)")
    run.add_argument("--scratch", default="/var/tmp/vbench", help="host scratch root for the storage under test")
    run.add_argument("--interval", type=float, default=0.1, help="collector sampling interval in seconds")
    box = run.add_argument_group("containers")
    box.add_argument("--image", help="container image with python3 and fio to use instead of vbench's guest image")
    box.add_argument("--docker-runtime", help="OCI runtime for containers: runc (default), crun, runsc")
    box.add_argument("--cpus", type=float, help="CPU limit of containers (e.g. 1.5)")
    box.add_argument("--memory", help="memory limit of containers (e.g. 2g)")
    vm = run.add_argument_group("virtual machines")
    vm.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                    help="auto: KVM when a probe boot succeeds, else TCG software emulation")
    vm.add_argument("--vcpus", type=int, help="vCPUs of the guest (default: up to 2)")
    vm.add_argument("--vm-memory", type=int, metavar="MIB", help="guest memory in MiB (default 2048)")
    run.set_defaults(func=cmd_run)

    images = sub.add_parser("images", help="build or list the cached guest image")
    images.add_argument("action", choices=["build", "ls"])
    images.set_defaults(func=cmd_images)

    lst = sub.add_parser("list", help="suites, workloads and environments")
    lst.set_defaults(func=cmd_list)

    doc = sub.add_parser("doctor", help="which environments and tools work here, and why not")
    doc.add_argument("--scratch", default="/var/tmp/vbench")
    doc.set_defaults(func=cmd_doctor)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from vbench.runner import RunOptions, run_suite
    from vbench.suite import load_suite, with_plan
    from vbench.console import RichProgress, print_summary

    if args.interval <= 0 or args.interval > 10:
        raise VBenchError(f"--interval: {args.interval} must be above 0 and at most 10 seconds")
    suite = load_suite(args.suite, quick=args.quick)
    suite = with_plan(suite, min_rounds=args.rounds, max_rounds=args.max_rounds, warmup_rounds=args.warmup,
                      ci_target_pct=args.ci_target, time_budget_s=args.time_budget, timeout_s=args.timeout)
    requested = [e for e in args.env.split(",") if e.strip()] if args.env else None
    if requested == []:
        raise VBenchError("--env: name at least one environment")
    env_options = {"image": args.image, "runtime": args.docker_runtime, "cpus": args.cpus, "memory": args.memory,
                   "accel": args.accel, "vcpus": args.vcpus, "memory_mb": args.vm_memory}
    if args.vcpus is not None and not 1 <= args.vcpus <= 64:
        raise VBenchError(f"--vcpus: {args.vcpus} must be from 1 to 64")
    if args.vm_memory is not None and not 256 <= args.vm_memory <= 1 << 20:
        raise VBenchError(f"--vm-memory: {args.vm_memory} MiB must be at least 256")
    if args.cpus is not None and not 0 < args.cpus <= 1024:
        raise VBenchError(f"--cpus: {args.cpus} must be above 0")
    options = RunOptions(Path(args.results), args.scratch, args.seed, args.interval,
                         {k: v for k, v in env_options.items() if v is not None})
    progress = RichProgress()
    try:
        run_dir = run_suite(suite, requested, options, progress)
    finally:
        progress.close()
    print_summary(run_dir)
    return EXIT_OK


def cmd_images(args: argparse.Namespace) -> int:
    from vbench import images
    from vbench.console import err, print_images

    if args.action == "build":
        images.build(lambda text: err.print(f"images: {text}"))
    print_images(images.listing())
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from vbench.console import print_listing

    print_listing()
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from vbench.console import print_checks
    from vbench.doctor import checks

    print_checks(checks(args.scratch))
    return EXIT_OK


def _version() -> str:
    from vbench import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
