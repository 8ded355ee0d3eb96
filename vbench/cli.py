"""The ``vbench`` command. User errors become one line on stderr and an exit code (see vbench.errors)."""
from __future__ import annotations

import argparse
import faulthandler
import functools
import os
import re
import signal
import sys
import textwrap
import threading
from pathlib import Path

from vbench import fmt
from vbench.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, UsageError, VBenchError

# How long an interrupted vbench may take to stop (a trial's worker closed, every environment torn down) before it
# exits regardless: a teardown stuck on the outside world must not hold the host's measuring lock for ever.
# $VBENCH_STOP_GRACE_S changes it (the tests' stuck teardown uses seconds).
STOP_GRACE_S = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _compare_groups(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        grace = stop_grace()
    except UsageError as exc:
        print(f"vbench: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: where a vbench that seems stuck is
    interrupt = functools.partial(_interrupt, grace)
    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # an inherited SIG_IGN stays ignored
        signal.signal(signal.SIGINT, interrupt)
    try:
        return args.func(args) or EXIT_OK
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"vbench: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except VBenchError as exc:
        print(f"vbench: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vbench: interrupted; finished trials are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR


def _compare_groups(argv: list[str]) -> list[str]:
    """``compare A1 A2 -- B1 B2 [options]``: the runs after ``--`` become the hidden ``--runs-b`` (argparse would
    take them as more runs of A)."""
    if argv[:1] == ["compare"] and "--" in argv:
        cut = argv.index("--")
        return [*argv[:cut], "--runs-b", *argv[cut + 1:]]
    return argv


def stop_grace() -> float:
    text = os.environ.get("VBENCH_STOP_GRACE_S", "").strip()
    if not text:
        return STOP_GRACE_S
    try:
        grace = float(text)
    except ValueError:
        grace = -1.0
    if not grace > 0:
        raise UsageError(f"VBENCH_STOP_GRACE_S must be a number of seconds above 0, not {text!r}")
    return grace


_deadline: threading.Timer | None = None


def _interrupt(grace: float, signum, frame):
    """SIGINT or SIGTERM: stop as Ctrl-C does (finished trials kept, environments torn down), within ``grace``
    seconds of the first one."""
    global _deadline
    if _deadline is None:
        _deadline = threading.Timer(grace, _stop_now, args=(grace,))
        _deadline.daemon = True
        _deadline.start()
    raise KeyboardInterrupt


def _stop_now(grace: float) -> None:
    """The interrupted vbench has not stopped in ``grace`` seconds: say where it was stuck and exit. Its finished
    trials are on disk; whatever it had not torn down is in its ledger, which ``vbench clean`` reaps."""
    os.write(2, (f"vbench: still stopping {grace:g} s after the interrupt; exiting now (vbench clean removes "
                 "whatever was left); where it was:\n").encode())  # not print(): the stuck thread may hold its lock
    faulthandler.dump_traceback(sys.stderr, all_threads=True)
    os._exit(EXIT_INTERRUPTED)


def one_line(text: str) -> str:
    """``text`` with control characters escaped: a newline or a terminal escape in a name the user gave cannot
    turn the one-line error into several lines or forge output."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Renamed(argparse.Action):
    """An option under its new name whose old spellings (``old``) still work for a release, each use saying what
    replaces it. ``nargs=0`` with ``const`` makes a flag."""

    def __init__(self, option_strings, dest, old=(), nargs=None, const=None, **kwargs) -> None:
        self.old = tuple(old)
        super().__init__([*option_strings, *self.old], dest, nargs=nargs, const=const, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string in self.old:
            new = next(o for o in self.option_strings if o.startswith("--"))
            print(f"vbench: {option_string} is now {new}; the old spelling goes in a later release", file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


class Joined(argparse.Action):
    """A list option given either way: repeated (``--env a --env b``) or comma-separated (``--env a,b``), kept as
    one comma-separated string."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        before = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, values if before is None else f"{before},{values}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vbench", description="Measure what virtualization really costs.")
    parser.add_argument("--version", action="version", version=f"vbench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = command(sub, "run", "run a suite on several environments, interleaved",
                  "vbench run --suite io\n  vbench run --suite cpu --env native,docker:volume --quick\n"
                  "  vbench run --resume results/<run-id>\n  vbench run --host local --host bench@server --suite cpu")
    run.add_argument("--suite", metavar="SUITE",
                     help=f"a built-in suite ({', '.join(builtin_suites())}) or the path of a suite .toml")
    run.add_argument("--resume", metavar="RUN", help="finish an interrupted run (results/<run-id>) in place")
    run.add_argument("--pytest-benchmark", metavar="PATH",
                     help="run your own pytest-benchmark suite (a directory or file) in each environment: every "
                          "benchmark becomes a case")
    run.add_argument("--host", action="append", metavar="HOST",
                     help="run the suite on HOST ([user@]name[:port], an ssh alias, or local for this machine, "
                          "which runs only when named); repeat for a fleet, read side by side (through ssh, never "
                          "prompting)")
    run.add_argument("--ssh-config", metavar="FILE", help="the ssh config file for --host (as ssh -F)")
    run.add_argument("--provision", action=Renamed, old=("--setup",), nargs=0, const=True, default=False,
                     dest="setup",
                     help="with --host: install this vbench where a host has another build of it, and run vbench "
                          "setup on every host (system packages, Docker engine, guest image; needs a root login); "
                          "formerly --setup")
    run.add_argument("--env", action=Joined, help="environments, comma-separated or the option repeated, e.g. "
                                                  "native,docker:volume or --env native --env docker:volume "
                                                  "(default: the suite's defaults that are available here)")
    run.add_argument("--quick", action="store_true",
                     help="the suite's quick size: its [quick] plan (a lower round cap and time budget) and "
                          "smaller jobs")
    plan = "default: the suite's [plan]"
    run.add_argument("--min-rounds", action=Renamed, old=("--rounds",), type=int, metavar="N", dest="rounds",
                     help=f"measured rounds to run at least ({plan} min_rounds; formerly --rounds)")
    run.add_argument("--max-rounds", type=int, metavar="N",
                     help=f"measured rounds to run at most, adding rounds until the CI target is met ({plan} "
                          "max_rounds)")
    run.add_argument("--warmup", type=int, metavar="N",
                     help=f"warm-up rounds, run and kept but not analysed ({plan} warmup_rounds)")
    run.add_argument("--ci-target", type=float, metavar="PP",
                     help="stop adding rounds when every overhead's 95%% CI half-width is below PP points "
                          f"({plan} ci_target_pct)")
    run.add_argument("--time-budget", type=float, metavar="S",
                     help=f"start no new round after S seconds ({plan} time_budget_s)")
    run.add_argument("--timeout", type=float, metavar="S", help=f"the timeout of one trial ({plan} timeout_s)")
    run.add_argument("--seed", type=int, metavar="N", help="seed of the shuffled order (default: random, recorded)")
    run.add_argument("--no-aa", action="store_true",
                     help="leave out the A/A control (native:aa, a second native measured like any environment, "
                          "whose overhead is the run's noise floor)")
    run.add_argument("--no-slices", action="store_true",
                     help="run every workload as whole trials, one environment at a time, instead of paired "
                          "slices alternating between the environments (the workloads with a unit of work: cpu "
                          "and io)")
    run.add_argument("--no-pin", action="store_true",
                     help="leave a sliced block's workers unpinned (by default a cpu block's share one CPU, "
                          "rotated by round, and vbench keeps to the others; an I/O block's are never pinned)")
    run.add_argument("--allow-concurrent", action="store_true",
                     help="measure even while another vbench run measures on this host (by default a second run "
                          "is refused); every trial is then flagged concurrent-run")
    run.add_argument("-o", "--output", action=Renamed, old=("--results",), default="results", metavar="DIR",
                     dest="results", help="where runs go, each in a directory of its own (default: ./results; "
                                          "formerly --results)")
    run.add_argument("--scratch", default="/var/tmp/vbench", metavar="DIR",
                     help="the host directory under which the storage under test is made (default: /var/tmp/vbench)")
    run.add_argument("--interval", type=float, default=0.1, metavar="S",
                     help="the collectors' sampling interval in seconds (default: 0.1)")
    # for a fleet run's own vbench on each host (vbench.fleet): the run's id, and its progress as JSON lines
    run.add_argument("--run-id", help=argparse.SUPPRESS)
    run.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    box = run.add_argument_group("containers")
    box.add_argument("--image", metavar="IMAGE",
                     help="container image with python3 and fio to use instead of vbench's guest image")
    box.add_argument("--docker-runtime", metavar="RUNTIME",
                     help="OCI runtime for containers: runc (default), crun, runsc")
    box.add_argument("--container-cpus", action=Renamed, old=("--cpus",), type=float, metavar="N", dest="cpus",
                     help="CPU limit of containers, e.g. 1.5 (default: none; formerly --cpus)")
    box.add_argument("--container-memory", action=Renamed, old=("--memory",), metavar="SIZE", dest="memory",
                     help="memory limit of containers, e.g. 2g (default: none; formerly --memory)")
    box.add_argument("--blkio-accounting", action="store_true",
                     help="on cgroup v1, set a never-limiting throttle rule so the container's block I/O is "
                          "counted (it costs some I/O speed; recorded in the fingerprint)")
    vm = run.add_argument_group("virtual machines")
    vm.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                    help="auto (the default): KVM when a probe boot succeeds, else TCG software emulation")
    vm.add_argument("--vcpus", type=int, metavar="N", help="vCPUs of the guest (default: up to 2)")
    vm.add_argument("--vm-memory", type=int, metavar="MIB", help="guest memory in MiB (default 2048)")
    vm.add_argument("--agent-grace", type=float, metavar="S",
                    help="how long past a trial's timeout a guest may stay silent before it counts as hung and is "
                         "killed (default 60)")
    vm.add_argument("--vm-disk-size", metavar="SIZE",
                    help="size of the guest's scratch disk (sparse; qemu-img's form, e.g. 16G; default 8G)")
    vm.add_argument("--boot-timeout", type=float, metavar="S",
                    help="how long a guest may take to boot to its agent (default 90 under KVM, 300 under TCG)")
    run.set_defaults(func=cmd_run)

    report = command(sub, "report", "write the self-contained HTML report of a run",
                     "vbench report results/<run-id>\n  vbench report results/<run-id> -o /tmp/run.html")
    report.add_argument("run", help="a run directory, e.g. results/<run-id>")
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: <run>/report.html)")
    report.set_defaults(func=cmd_report)

    summary = command(sub, "summary", "a run's overhead table: the console view, CSV or JSON",
                      "vbench summary results/<run-id>\n  vbench summary results/<run-id> --format csv > o.csv")
    summary.add_argument("run", help="a run directory, e.g. results/<run-id>")
    summary.add_argument("--format", choices=["table", "csv", "json"], default="table",
                         help="table (the console view, primary metrics; the default), or csv / json (every "
                              "metric, one row per case, environment and metric, as overheads.csv)")
    summary.set_defaults(func=cmd_summary)

    compare = command(sub, "compare", "the same cases in two runs (A B) or two groups of runs (A1 A2 -- B1 B2): "
                                      "changes, CIs and significance",
                      "vbench compare results/<before> results/<after>\n"
                      "  vbench compare results/n1 results/n2 results/n3 -- results/new --fail-above 5 -o c.html")
    compare.add_argument("runs", nargs="+", metavar="RUN",
                         help="A B, or the runs of A, then -- and the runs of B (the run is the unit)")
    compare.add_argument("--runs-b", nargs="+", help=argparse.SUPPRESS)  # what follows `--`, see main()
    compare.add_argument("--fail-above", type=float, metavar="PCT",
                         help="exit 3 when a regression of B against A is shown to exceed PCT percent (the 95%% "
                              "CI's lower bound above it, Holm-corrected across cases); needs several runs on a "
                              "side (a baseline set such as the last few nightly runs), since one run a side "
                              "cannot show run-to-run variation")
    compare.add_argument("-o", "--output", action=Renamed, old=("--html",), metavar="FILE", dest="html",
                         help="also write the comparison as an HTML page (formerly --html)")
    compare.set_defaults(func=cmd_compare)

    clean = command(sub, "clean", "remove what interrupted runs left behind (containers, volumes, networks, VMs, "
                                  "scratch directories); never anything else", "vbench clean")
    clean.set_defaults(func=cmd_clean)

    images = command(sub, "images", "build or list the cached guest image (a Debian root filesystem made with "
                                    "debootstrap, used by the containers and the VMs)",
                     "vbench images build\n  vbench images ls")
    images.add_argument("action", choices=["build", "ls"], help="build the image if it is not cached, or list it")
    images.set_defaults(func=cmd_images)

    setup = command(sub, "setup", "install the system packages vbench runs and start the Docker engine (as root), "
                                  "then build the guest image: setup.sh's system part", "vbench setup")
    setup.set_defaults(func=cmd_setup)

    lst = command(sub, "list", "suites, workloads and environments, with whether each environment's variants "
                               "can run here", "vbench list\n  vbench list --format json")
    lst.add_argument("--format", choices=["table", "text", "json"],
                     help="table, plain text or JSON (default: table on a terminal, text otherwise)")
    lst.set_defaults(func=cmd_list)

    doc = command(sub, "doctor", "which environments and tools work here, and why not",
                  "vbench doctor\n  vbench doctor --probe")
    doc.add_argument("--scratch", default="/var/tmp/vbench", metavar="DIR",
                     help="the scratch directory to check, as vbench run --scratch (default: /var/tmp/vbench)")
    doc.add_argument("-o", "--output", default="results", metavar="DIR", dest="results",
                     help="the results directory to check for free space, as vbench run -o (default: ./results)")
    doc.add_argument("--probe", action="store_true",
                     help="boot a guest under KVM now (at most 45 s) instead of showing the cached probe result")
    doc.set_defaults(func=cmd_doctor)
    return parser


def command(sub, name: str, what: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does and shows examples."""
    return sub.add_parser(name, help=what, description=textwrap.fill(what[0].upper() + what[1:] + ".", 88),
                          epilog=f"examples:\n  {examples}", formatter_class=argparse.RawDescriptionHelpFormatter)


def builtin_suites() -> list[str]:
    """The built-in suites' names, from the package's suite files."""
    from importlib import resources

    return sorted(p.name[:-5] for p in resources.files("vbench.suites").iterdir() if p.name.endswith(".toml"))


def cmd_run(args: argparse.Namespace) -> int:
    from vbench.reaper import reap

    if args.host or (args.resume and (Path(args.resume) / "fleet.json").is_file()):
        return _fleet(args)
    if args.ssh_config or args.setup:
        raise VBenchError("--ssh-config and --provision go with --host")
    job = _resume_job(args) if args.resume else _suite_job(args)  # every input checked before anything happens
    reap(lambda text: print(f"vbench: {text}", file=sys.stderr))  # what killed runs left behind
    return _carry_out(job, args.stream)


def _fleet(args: argparse.Namespace) -> int:
    """``vbench run --host ...``: every input checked here first, then the fleet (vbench.fleet)."""
    from vbench.hosts import SSH, parse_hosts

    ssh = SSH(config=args.ssh_config)
    if args.ssh_config and not Path(args.ssh_config).is_file():
        raise VBenchError(f"--ssh-config: {args.ssh_config} is not a file")
    if args.resume:
        if args.host or args.suite:
            raise VBenchError("--resume of a fleet takes its hosts and suite from it; drop --host and --suite")
        return _fleet_end(lambda show: _fleet_module().resume_fleet(Path(args.resume), ssh, show))
    hosts = parse_hosts(args.host)
    if args.pytest_benchmark:
        raise VBenchError("--pytest-benchmark runs on this machine only; drop --host")
    if not args.suite:
        raise VBenchError("--suite is required")
    if args.run_id or args.stream:
        raise VBenchError("--run-id and --stream are each host's own; drop them")
    suite, _, _ = _run_inputs(args)  # the same checks as a run here, before any host is touched
    from vbench.suite import builtin_names

    suite_file = None if args.suite in builtin_names() else Path(args.suite)
    from vbench.run.request import RunRequest

    request = RunRequest.from_namespace(args)  # what each host's vbench runs
    return _fleet_end(lambda show: _fleet_module().run_fleet(hosts, ssh, Path(args.results), suite.name,
                                                               suite_file, request, args.setup, show))


def _fleet_module():
    from vbench import fleet

    return fleet


def _fleet_end(run) -> int:
    from vbench.console.fleet import FleetProgress, print_fleet_summary

    from vbench.report.fleet import build_fleet_report

    directory = run(FleetProgress())
    print_fleet_summary(directory)
    print(f"report: {build_fleet_report(directory)}")
    failure = _fleet_module().failures(directory)
    if failure:
        raise VBenchError(failure)
    return EXIT_OK


def _resume_job(args: argparse.Namespace):
    from vbench.store import read_run

    if args.suite:
        raise VBenchError("--resume takes the suite and environments from the run; drop --suite")
    path = Path(args.resume)
    if not path.exists() and (Path(args.results) / args.resume).exists():
        path = Path(args.results) / args.resume  # a bare run id
    read_run(path)  # a run this vbench reads, or the error now

    from vbench.run.lifecycle import resume_run

    return lambda progress: resume_run(path, progress, args.allow_concurrent)


def _suite_job(args: argparse.Namespace):
    if args.suite and args.pytest_benchmark:
        raise VBenchError("--suite and --pytest-benchmark: give one of them")
    if not args.suite and not args.pytest_benchmark:
        raise VBenchError("--suite is required (or --pytest-benchmark PATH, or --resume RUN)")
    suite, requested, options = _run_inputs(args)

    from vbench.run.lifecycle import run_suite

    return lambda progress: run_suite(suite, requested, options, progress)


def _run_inputs(args: argparse.Namespace):
    """The suite, the environments asked for and the options of ``vbench run``, each checked."""
    from vbench import envs
    from vbench.model import EnvOptions
    from vbench.suite import load_suite, with_plan

    if not 0 < args.interval <= 10:  # written so that NaN fails too
        raise VBenchError(f"--interval: {args.interval} must be above 0 and at most 10 seconds")
    user_dir = None
    if args.pytest_benchmark:
        from vbench.userbench import suite_for

        suite, root = suite_for(args.pytest_benchmark, args.quick)
        user_dir = str(root)
    else:
        suite = load_suite(args.suite, quick=args.quick)
    suite = with_plan(suite, min_rounds=args.rounds, max_rounds=args.max_rounds, warmup_rounds=args.warmup,
                      ci_target_pct=args.ci_target, time_budget_s=args.time_budget, timeout_s=args.timeout,
                      seed=args.seed)
    requested = [e for e in args.env.split(",") if e.strip()] if args.env is not None else None
    if requested == []:
        raise VBenchError("--env: name at least one environment")
    for name in requested or []:
        try:
            envs.resolve(name)
        except VBenchError as exc:
            raise VBenchError(f"--env: {exc}") from None
    if args.vcpus is not None and not 1 <= args.vcpus <= 64:
        raise VBenchError(f"--vcpus: {args.vcpus} must be from 1 to 64")
    if args.vm_memory is not None and not 256 <= args.vm_memory <= 1 << 20:
        raise VBenchError(f"--vm-memory: {args.vm_memory} MiB must be at least 256")
    if args.cpus is not None and not 0 < args.cpus <= 1024:
        raise VBenchError(f"--container-cpus: {args.cpus} must be above 0")
    if args.vm_disk_size is not None and not re.fullmatch(r"[1-9][0-9]*[KMGT]?", args.vm_disk_size):
        raise VBenchError(f"--vm-disk-size: {args.vm_disk_size!r} is not a size such as 16G")
    results = Path(args.results)
    if results.exists() and not results.is_dir():
        raise VBenchError(f"--output: {results} is not a directory")
    if args.agent_grace is not None and not 0 < args.agent_grace <= 86400:
        raise VBenchError(f"--agent-grace: {args.agent_grace} must be above 0 seconds")
    if args.boot_timeout is not None and not 0 < args.boot_timeout <= 86400:
        raise VBenchError(f"--boot-timeout: {args.boot_timeout} must be above 0 seconds")

    from vbench.run.options import RunOptions

    env_options = EnvOptions(image=args.image, runtime=args.docker_runtime, cpus=args.cpus, memory=args.memory,
                             blkio_accounting=args.blkio_accounting or None, accel=args.accel, vcpus=args.vcpus,
                             memory_mb=args.vm_memory, disk_size=args.vm_disk_size, agent_grace=args.agent_grace,
                             boot_timeout=args.boot_timeout, user_dir=user_dir)
    if args.run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}", args.run_id):
        raise VBenchError(f"--run-id: {args.run_id!r} is not a run id (letters, digits, '.', '_', '-')")
    options = RunOptions(results, args.scratch, args.seed, args.interval, env_options, run_id=args.run_id,
                         aa_control=not args.no_aa,
                         slices=not args.no_slices, pin=not args.no_pin, allow_concurrent=args.allow_concurrent)
    return suite, requested, options


def _carry_out(run, stream: bool = False) -> int:
    """Run with a progress bar (or, with ``stream``, JSON events on stdout), then print the summary and write the
    report."""
    from vbench.console.progress import RichProgress, StreamProgress
    from vbench.console.summary import print_summary
    from vbench.report import build_report
    from vbench.run.events import Event
    from vbench.run.lifecycle import failure_of

    progress = StreamProgress() if stream else RichProgress()
    if stream:
        progress.watch_stdin()
    try:
        run_dir = run(progress)
    finally:
        progress.close()
    import vbench
    from vbench.summary import write_overheads

    frame = vbench.load(run_dir)
    overheads = write_overheads(run_dir, frame)
    report = build_report(run_dir)
    if stream:
        progress.emit(Event("finished", run_dir=str(run_dir), failure=failure_of(run_dir)))
    else:
        print_summary(run_dir, frame, overheads, full_table=False)
        print(f"report: {report}")
    failure = failure_of(run_dir)
    if failure:
        raise VBenchError(f"{failure} (results kept in {run_dir})")
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    from vbench.reaper import reap

    removed = reap(print)
    print(f"clean: removed {fmt.plural(len(removed), 'leftover')}" if removed else "clean: nothing left behind")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from vbench.fleetdir import read_fleet
    from vbench.report import build_report

    output = _output_file("-o/--output", args.output)
    if read_fleet(args.run) is not None:  # a fleet: every host side by side (each host's own report stays)
        from vbench.report.fleet import build_fleet_report

        if output:
            raise VBenchError("-o/--output: a fleet's report is written in its directory")
        print(f"report: {build_fleet_report(args.run)}")
        return EXIT_OK
    print(f"report: {build_report(args.run, output)}")

    import vbench
    from vbench.store import run_dir
    from vbench.summary import FILE, write_overheads

    directory = run_dir(args.run)
    write_overheads(directory, vbench.load(directory))  # the table beside the report, as a run writes it
    print(f"overheads: {directory / FILE}")
    return EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    from vbench.fleetdir import read_fleet
    from vbench.store import read_run

    fleet = read_fleet(args.run)
    if fleet is None:
        read_run(args.run)  # a run this vbench reads, or the error now

    import vbench
    from vbench import summary

    if fleet is not None:
        if args.format == "table":
            from vbench.console.fleet import print_fleet_summary

            print_fleet_summary(Path(args.run))
            return EXIT_OK
        table = _fleet_overheads(Path(args.run), fleet)
    else:
        frame = vbench.load(args.run)
        table = summary.overheads(frame)
    if args.format == "csv":
        sys.stdout.write(table.to_csv(index=False, float_format="%.6g"))
    elif args.format == "json":
        sys.stdout.write(summary.as_json(table) + "\n")
    else:
        from vbench.console.summary import print_summary

        print_summary(Path(args.run), frame, table)
    return EXIT_OK


def _fleet_overheads(directory: Path, fleet: dict):
    """Every host's overhead table, each computed on its own trials, with the host as the first column."""
    import pandas as pd

    import vbench
    from vbench import summary
    from vbench.fleetdir import HOSTS_DIR

    tables = []
    for host in fleet["hosts"]:
        run = directory / HOSTS_DIR / host["label"]
        if (run / "run.json").is_file():
            table = summary.overheads(vbench.load(run))
            tables.append(table.assign(host=host["label"])[["host", *table.columns]])
    if not tables:
        raise VBenchError(f"{directory}: no host of this fleet has a run yet")
    return pd.concat(tables, ignore_index=True)


def cmd_compare(args: argparse.Namespace) -> int:
    from vbench.store import read_run

    if args.fail_above is not None and not 0 <= args.fail_above <= 1e6:
        raise VBenchError(f"--fail-above: {args.fail_above} must be a percentage of at least 0")
    _output_file("-o/--output", args.html)
    runs_a, runs_b = (args.runs, args.runs_b) if args.runs_b else (args.runs[:1], args.runs[1:])
    if not args.runs_b and len(args.runs) != 2:
        raise UsageError("compare takes two runs (A B), or the runs of A, then --, then the runs of B")
    if args.fail_above is not None and len(runs_a) == 1 and len(runs_b) == 1:
        from vbench.compare import ONE_RUN_GATE

        raise VBenchError(ONE_RUN_GATE)
    for run in (*runs_a, *runs_b):
        read_run(run)  # readable, or the error now: before the statistics are imported

    from vbench import compare
    from vbench.console import out

    comparison = compare.compare_runs(runs_a, runs_b)
    out.print(compare.format_text(comparison))
    if args.html:
        Path(args.html).write_text(compare.format_html(comparison))
        out.print(f"html: {args.html}")
    if args.fail_above is not None:
        if not compare.gate_ready(comparison):
            raise VBenchError(compare.ONE_RUN_GATE)
        regressions = compare.regressions_above(comparison, args.fail_above)
        if regressions:
            names = ", ".join(f"{c.case}@{c.environment} {c.change_pct:+.1f}%" for c in regressions)
            found = fmt.plural(len(regressions), "significant regression")
            print(f"vbench: {found} above {args.fail_above:g}%: {names}",
                  file=sys.stderr)
            return compare.EXIT_REGRESSION
    return EXIT_OK


def _output_file(option: str, value: str | None) -> Path | None:
    """Where ``option`` asks to write, checked before the work that produces it."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir() or not path.parent.is_dir():
        raise VBenchError(f"{option}: cannot write {value}: " +
                          ("it is a directory" if path.is_dir() else f"{path.parent} is not a directory"))
    return path


def cmd_images(args: argparse.Namespace) -> int:
    from vbench import images
    from vbench.console import err
    from vbench.console.listing import print_images

    if args.action == "build":
        images.build(lambda text: err.print(f"images: {text}"))
    print_images(images.listing())
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    """setup.sh's system part, for an installed vbench (a fleet's host with --setup)."""
    import subprocess

    from vbench import images
    from vbench.console import err

    script = Path(__file__).resolve().parent / "system-setup.sh"
    if subprocess.run(["bash", str(script)], stdin=subprocess.DEVNULL).returncode != 0:
        raise VBenchError("the system setup failed (its message is above)")
    images.build(lambda text: err.print(f"images: {text}"))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from vbench.console.listing import print_listing

    print_listing(args.format)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from vbench.console.listing import print_checks
    from vbench.doctor import checks

    if args.probe:
        from vbench.console import err

        err.print("doctor: probing KVM: booting a guest under KVM (at most 45 s)")
    from vbench.doctor import bottom_line

    found = checks(args.scratch, probe=args.probe, results=args.results)
    print_checks(found, bottom_line(found))
    return EXIT_OK


def _version() -> str:
    from vbench import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
