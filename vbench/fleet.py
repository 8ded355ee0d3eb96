"""A fleet run: the same suite on several hosts (``vbench run --host A --host B ...``), read side by side.

Each host runs its own vbench: ``local`` this one, any other the one in its private cache (``~/.cache/vbench/
fleet``, or ``$VBENCH_FLEET_HOME``), put there from a wheel of this vbench when it is missing. Hosts on different
machines run at once; names that reach one machine (the same boot id) run one after the other. Each host's vbench
streams its trials back as they finish (``vbench run --stream``), so an interrupted fleet keeps what every host
finished, and its run directory is fetched when it ends. The result is one directory:
``results/<fleet-id>/fleet.json`` and ``hosts/<host>/``, each a run directory that every vbench command reads.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from vbench import __version__, fmt
from vbench.errors import VBenchError
from vbench.fleetdir import FLEET_FILE, HOSTS_DIR, read_fleet  # noqa: F401 (the fleet's names)
from vbench.hosts import SSH, SSH_FAILED, Host, last_line
from vbench.run.events import Event
from vbench.run.request import RunRequest
from vbench.diskspace import append_line, write_atomic, writing

HOME_ENV = "VBENCH_FLEET_HOME"
STREAM_LOG = "stream.log"  # the host vbench's stderr, kept beside its run
FLEET_VERSION = 2  # 2: a host's status is one word and a failed host's why is in its reason (fleetdir)

# Run on a host by its python3 (stdlib only): where the fleet's cache is there, what build of vbench it holds, and
# which machine it is.
PROBE = """
import json, os, sys
home = os.environ.get("VBENCH_FLEET_HOME") or os.path.expanduser("~/.cache/vbench/fleet")
try:
    build = open(os.path.join(home, "build")).read().strip()
except OSError:
    build = None
runs = os.path.join(home, "results")
print(json.dumps({"home": home, "build": build, "python": sys.version.split()[0],
                  "boot_id": open("/proc/sys/kernel/random/boot_id").read().strip(),
                  "runs": sorted(os.listdir(runs)) if os.path.isdir(runs) else []}))
"""
# The wheel arrives on stdin; a fresh virtualenv gets it (its dependencies from the host's package index).
INSTALL = """
import os, shutil, subprocess, sys
home, build, name = sys.argv[1:4]
os.makedirs(home, exist_ok=True)
wheel = os.path.join(home, name)
with open(wheel + ".part", "wb") as f:
    f.write(sys.stdin.buffer.read())
os.replace(wheel + ".part", wheel)
venv = os.path.join(home, "venv")
shutil.rmtree(venv, ignore_errors=True)
for argv in ([sys.executable, "-m", "venv", venv],
             [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              wheel]):
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
        sys.exit(f"{argv[2]} failed: {said}")
os.remove(wheel)
with open(os.path.join(home, "build"), "w") as f:
    f.write(build)
"""
# A suite file arrives on stdin and is kept in the cache for the host's vbench.
SAVE = """
import os, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "wb") as f:
    f.write(sys.stdin.buffer.read())
"""
# A finished (or stopped) run directory as a tar on stdout, its list of files first: a fetch that breaks half-way
# knows what it missed.
MANIFEST = ".vbench-manifest.json"
FETCH = """
import io, json, os, sys, tarfile
root, name = sys.argv[1:3]
top = os.path.join(root, name)
if not os.path.isdir(top):
    sys.exit(f"no run {name} in {root}")
files = sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)
listing = json.dumps(files).encode()
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
    head = tarfile.TarInfo(MANIFEST)
    head.size = len(listing)
    tar.addfile(head, io.BytesIO(listing))
    tar.add(top, arcname=name)
""".replace("MANIFEST", repr(MANIFEST))
FETCH_TIMEOUT_S = 600


def python(script: str, *args: str) -> list[str]:
    """A stdlib-only script for a host's python3, as an argument list (quoted by vbench.hosts for the shell)."""
    return ["python3", "-c", script, *args]


# -- this vbench as a wheel ---------------------------------------------------------------------------------------

def source_root() -> Path:
    """The source tree this vbench runs from (where pyproject.toml is): what the wheel is built from."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "workloads").is_dir():
        raise VBenchError(f"vbench runs from {root}, not from its source tree: it cannot build itself for other "
                          "hosts (install it with pip install -e from a clone)")
    return root


def build_id(root: Path | None = None) -> str:
    """This vbench's build: its version and a hash of its source files, so a changed tree is another build."""
    root = root or source_root()
    digest = hashlib.sha256(__version__.encode())
    for package in ("vbench", "workloads"):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    digest.update((root / "pyproject.toml").read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def wheel(cache: Path) -> Path:
    """A wheel of this vbench (built once per build, kept under ``cache``)."""
    root, build = source_root(), build_id()
    where = cache / "wheels" / build
    found = sorted(where.glob("vbench-*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="vbench-wheel-") as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                               "-w", tmp, str(root)], capture_output=True, text=True, timeout=600)
        built = sorted(Path(tmp).glob("vbench-*.whl"))
        if done.returncode or not built:
            raise VBenchError(f"building a wheel of vbench for the other hosts failed: "
                              f"{last_line(done.stderr.encode()) or done.returncode}")
        where.mkdir(parents=True, exist_ok=True)
        target = where / built[0].name
        os.replace(built[0], target)
    return target


# -- the hosts ----------------------------------------------------------------------------------------------------

@dataclass
class HostState:
    """One host of a fleet: where its vbench and cache are, and how its part went."""

    host: Host
    home: str = ""
    build: str | None = None
    boot_id: str = ""
    runs: list[str] = field(default_factory=list)
    status: str = "pending"  # pending, running, complete, interrupted or failed
    reason: str = ""  # why a failed host failed
    done: int = 0
    planned: int = 0
    doing: str = ""

    @property
    def vbench(self) -> list[str]:
        if self.host.is_local:
            return [sys.executable, "-m", "vbench.cli"]
        return [f"{self.home}/venv/bin/vbench"]

    def fail(self, why: str) -> None:
        self.status, self.reason = "failed", why

    @property
    def said(self) -> str:
        """The status, with why for a failed host."""
        return f"{self.status}: {self.reason}" if self.reason else self.status

    def record(self) -> dict:
        return {"host": self.host.text, "label": self.host.label, "boot_id": self.boot_id, "build": self.build,
                "status": self.status, "reason": self.reason or None, "trials": self.done}


class FetchBroken(VBenchError):
    """A host's run was fetched in part: what arrived is kept, the rest named."""


def unpack(stream, into: Path, run_id: str) -> tuple[list[str] | None, list[str], str | None]:
    """A fetch's tar stream into ``into``, a member at a time: the host's list of files (None before it
    arrived), the files (relative to the run) that arrived whole, and why the stream broke (None if it did
    not). A file cut off half-way is removed."""
    listing: list[str] | None = None
    arrived: list[str] = []
    current: Path | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    listing = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                    continue
                current = into / member.name
                with writing(into):
                    tar.extract(member, into, filter="data")
                current = None
                if member.isfile() and member.name.startswith(f"{run_id}/"):
                    arrived.append(member.name[len(run_id) + 1:])
    except (tarfile.TarError, EOFError, ValueError) as exc:  # cut off: the host or the connection went away
        if current is not None and current.is_file():
            current.unlink()
        return listing, arrived, f"{type(exc).__name__}: {exc}"
    return listing, arrived, None


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def missing_text(missing: list[str], most: int = 6) -> str:
    """The files a fetch missed, a subdirectory's as one entry ("run.json, samples/ (37 files)")."""
    entries: dict[str, int] = {}
    for name in missing:
        head, sep, _ = name.partition("/")
        entries[f"{head}/" if sep else head] = entries.get(f"{head}/" if sep else head, 0) + 1
    said = [f"{name} ({n} files)" if name.endswith("/") else name for name, n in entries.items()]
    more = f", and {len(said) - most} more" if len(said) > most else ""
    return ", ".join(said[:most]) + more if said else "nothing"


class Fleet:
    """Runs one suite on every host of ``hosts`` and gathers their runs under ``directory``."""

    def __init__(self, hosts: list[Host], ssh: SSH, directory: Path, setup: bool = False):
        self.ssh, self.dir, self.setup = ssh, directory, setup
        self.states = [HostState(h) for h in hosts]
        self.build = build_id()
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.extra: dict = {}  # what fleet.json keeps beside the hosts (the run's options, for --resume)

    # what each host has
    def probe(self, timeout: float = 120) -> None:
        """Every host's cache, build and boot id; an unreachable host is an error now, before anything runs."""
        for state in self.states:
            facts = json.loads(self.call(state, python(PROBE), timeout))
            state.home, state.build, state.boot_id, state.runs = (facts["home"], facts["build"], facts["boot_id"],
                                                                   facts["runs"])
            if state.host.is_local:
                state.build = self.build

    def call(self, state: HostState, argv: list[str], timeout: float, stdin: bytes | None = None) -> str:
        return self.ssh.run(state.host, argv, timeout, stdin)

    def machines(self) -> list[list[HostState]]:
        """The hosts grouped by machine (boot id), in the order given."""
        groups: dict[str, list[HostState]] = {}
        for state in self.states:
            groups.setdefault(state.boot_id, []).append(state)
        return list(groups.values())

    def check_builds(self) -> list[HostState]:
        """The hosts that need this build installed; an error for one with another build unless ``setup``."""
        needed = []
        for state in self.states:
            if state.host.is_local or state.build == self.build:
                continue
            if state.build is not None and not self.setup:
                raise VBenchError(f"{state.host.text} has vbench {state.build} in {state.home}; this is "
                                  f"{self.build}: give --provision to install this one there")
            needed.append(state)
        return needed

    def install(self, state: HostState, cache: Path) -> None:
        built = wheel(cache)
        self.call(state, python(INSTALL, state.home, self.build, built.name), timeout=1800,
                  stdin=built.read_bytes())
        state.build = self.build

    # running
    def run_id(self, state: HostState) -> str:
        return f"{self.dir.name}-{state.host.label}"

    def host_dir(self, state: HostState) -> Path:
        return self.dir / HOSTS_DIR / state.host.label

    def run_host(self, state: HostState, forwarded: list[str], resume: bool) -> None:
        """The host's part: its vbench run (or resumed), streamed into hosts/<host>/, then its directory fetched."""
        results = f"{state.home}/results"
        run_id = self.run_id(state)
        if resume and run_id in state.runs:
            argv = [*state.vbench, "run", "--resume", f"{results}/{run_id}", "--stream"]
        else:
            argv = [*state.vbench, "run", *forwarded, "--output", results, "--run-id", run_id, "--stream"]
        target = self.host_dir(state)
        target.mkdir(parents=True, exist_ok=True)
        state.status, state.reason = "running", ""
        self.write()
        with open(target / STREAM_LOG, "ab") as log:
            command = argv if state.host.is_local else self.ssh.argv(state.host, argv)
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    start_new_session=True)
            with self.lock:
                self.procs[state.host.label] = proc
            finished = self.follow(state, proc, target)
            code = proc.wait()
        with self.lock:
            self.procs.pop(state.host.label, None)
        if code == SSH_FAILED and not state.host.is_local:
            said = last_line((target / STREAM_LOG).read_bytes()) or "the connection was lost"
            state.fail(f"{state.host.text} was lost: {said}")
            return
        try:
            self.fetch(state, results, run_id)
        except FetchBroken as exc:  # some of it arrived: what is kept and what is missing
            state.fail(str(exc))
            return
        except VBenchError as exc:  # no run there: its vbench stopped before it began one, and said why
            said = last_line((target / STREAM_LOG).read_bytes()) if finished is None else ""
            state.fail(said or str(exc))
            return
        if finished is not None:
            if finished:
                state.fail(finished)
            else:
                state.status = "complete"
        else:
            said = last_line((target / STREAM_LOG).read_bytes())
            if self.stopping or code == 130:
                state.status = "interrupted"
            else:
                state.fail(said or f"exit {code}")

    def follow(self, state: HostState, proc: subprocess.Popen, target: Path) -> str | None:
        """Read the host's events until its vbench ends: its trials appended to hosts/<host>/trials.jsonl as they
        come (fsynced); what the run's failure was ("" for none), or None when it did not finish."""
        finished = None
        for raw in proc.stdout:
            event = Event.from_json(raw)
            if event is None:
                continue  # not an event (a library printing to stdout): the fetched run has the record
            if event.kind == "trial":  # whole and fsynced, or not at all (a full disk: vbench.diskspace)
                append_line(target / "trials.jsonl", json.dumps(event.record, sort_keys=True).encode() + b"\n")
                state.done += 1
            elif event.kind in ("started", "replanned"):
                state.planned = event.planned or 0
            elif event.kind == "skipped":
                state.done += event.count or 0
            elif event.kind == "trial_started":
                state.doing = event.what or ""
            elif event.kind == "finished":
                finished = event.failure or ""
        return finished

    def fetch(self, state: HostState, results: str, run_id: str) -> None:
        """The host's run directory, as its vbench left it, into hosts/<host>/ (the streamed trials replaced by
        the host's own file), streamed from the host's pipe to disk a file at a time. A fetch that breaks
        half-way keeps every file that arrived whole, and the streamed trials unless the host's own arrived,
        and fails naming what is missing (``FetchBroken``)."""
        argv = python(FETCH, results, run_id)
        target = self.host_dir(state)
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=self.dir) as tmp, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv if state.host.is_local else self.ssh.argv(state.host, argv),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            timed_out = threading.Event()

            def give_up() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(FETCH_TIMEOUT_S, give_up)
            timer.start()
            assert proc.stdout is not None  # piped
            try:
                listing, arrived, broke = unpack(proc.stdout, Path(tmp), run_id)
            finally:
                proc.stdout.close()
                code = proc.wait()
                timer.cancel()
            err.seek(0)
            said = (f"no end after {FETCH_TIMEOUT_S} s" if timed_out.is_set()
                    else last_line(err.read()) or f"exit {code}")
            if broke is None and code:
                broke = said
            if listing is None:  # nothing came: no run there (its vbench stopped before it began one)
                raise VBenchError(f"{state.host.text}: fetching its run failed: {said if code else broke or said}")
            with writing(target):
                for name in arrived:
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(Path(tmp) / run_id / name, target / name)
        missing = [name for name in listing if name not in set(arrived)]
        if broke is not None or missing:
            streamed = count_lines(target / "trials.jsonl")
            kept = fmt.plural(streamed, "streamed trial")
            raise FetchBroken(f"{state.host.text}: fetching its run broke after {len(arrived)} of {len(listing)} "
                              f"files ({broke or 'the stream ended'}); kept what arrived whole and {kept}; missing: "
                              f"{missing_text(missing)}; vbench run --resume fetches it again")

    def stop(self) -> None:
        """Every host's vbench asked to stop (its stdin closed): each keeps what it finished."""
        self.stopping = True
        with self.lock:
            for proc in self.procs.values():
                try:
                    proc.stdin.close()
                except OSError:
                    pass

    def write(self, status: str = "running") -> None:
        record = {"fleet_version": FLEET_VERSION, "fleet_id": self.dir.name, "vbench_version": __version__,
                  "build": self.build, "status": status, "hosts": [s.record() for s in self.states],
                  "machines": [[s.host.label for s in group] for group in self.machines()], **self.extra}
        with self.lock:
            write_atomic(self.dir / FLEET_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def run_groups(fleet: Fleet, forwarded, resume: bool, on_tick=None) -> None:
    """Every machine's hosts one after the other, the machines at once; ``forwarded(state)`` is the host's
    ``vbench run`` options; ``on_tick`` is called while they run."""
    def group_worker(group: list[HostState]) -> None:
        for state in group:
            if fleet.stopping:
                break
            if resume and state.status == "complete":
                continue
            try:
                fleet.run_host(state, forwarded(state), resume)
            except Exception as exc:  # one host's failure, whatever it is, is that host's part only
                state.fail(f"{type(exc).__name__}: {exc}")
            fleet.write()

    threads = [threading.Thread(target=group_worker, args=(g,), name=f"vbench-fleet-{i}", daemon=True)
               for i, g in enumerate(fleet.machines())]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            if on_tick:
                on_tick()
            time.sleep(0.2)
    except KeyboardInterrupt:
        fleet.stop()
        for thread in threads:
            thread.join(120)
        raise
    finally:
        if on_tick:
            on_tick()


def run_fleet(hosts: list[Host], ssh: SSH, results: Path, suite_name: str, suite_file: Path | None,
              request: RunRequest, setup: bool, show) -> Path:
    """The fleet run of ``request`` on ``hosts`` under ``results``; ``show`` is the display (vbench.console.fleet).
    Returns the fleet directory (:func:`failures` says which hosts did not finish)."""
    from vbench.store import new_run_id

    directory = Path(results) / new_run_id(suite_name)
    fleet = Fleet(hosts, ssh, directory, setup)
    fleet.probe()
    needed = fleet.check_builds()  # every host reached and its build known before anything is written
    directory.mkdir(parents=True)
    fleet.extra = {"run_options": request.to_argv()}
    fleet.write("starting")  # a fleet interrupted while it installs is still a fleet directory
    show.note(f"fleet directory: {directory}")
    for state in needed:
        show.note(f"{state.host.text}: installing vbench {fleet.build} in {state.home} (a virtualenv; its "
                  "packages from the host's index)")
        fleet.install(state, Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "vbench" / "fleet"))
    for state in fleet.states if setup else []:
        if not state.host.is_local:
            show.note(f"{state.host.text}: vbench setup (system packages and the Docker engine, which need a root "
                      "login, then the guest image)")
            fleet.call(state, [*state.vbench, "setup"], timeout=3600)
    copies = {}
    if suite_file is not None:
        for state in fleet.states:
            if not state.host.is_local:
                copies[state.host.label] = f"{state.home}/suites/{directory.name}.toml"
                fleet.call(state, python(SAVE, copies[state.host.label]), 120, stdin=suite_file.read_bytes())
    fleet.write()
    return execute(fleet, lambda state: request.with_suite(copies.get(state.host.label)).to_argv(), False, show)


def resume_fleet(directory: Path, ssh: SSH, show) -> Path:
    """Resume every host of an interrupted fleet that did not complete: its run resumed where the host has it,
    started where it never began."""
    from vbench.hosts import parse_host

    record = read_fleet(directory)
    fleet = Fleet([parse_host(h["host"]) for h in record["hosts"]], ssh, Path(directory))
    fleet.probe()
    for state, saved in zip(fleet.states, record["hosts"]):
        state.status, state.reason = saved["status"], saved.get("reason") or ""
        if state.status != "complete" and state.build != record["build"]:
            raise VBenchError(f"{state.host.text} has vbench {state.build}; the fleet ran {record['build']}")
    options = record.get("run_options", [])
    fleet.extra = {"run_options": options}
    return execute(fleet, lambda state: options, True, show)


def execute(fleet: Fleet, forwarded, resume: bool, show) -> Path:
    show.start(fleet)
    try:
        run_groups(fleet, forwarded, resume, on_tick=lambda: show.tick(fleet))
    except KeyboardInterrupt:
        fleet.write("interrupted")
        show.stop(fleet)
        raise
    failed = [s for s in fleet.states if s.status != "complete"]
    fleet.write("complete" if not failed else "partial")
    show.stop(fleet)
    return fleet.dir


def failures(directory: Path) -> str | None:
    """Why a fleet is not complete: each host that did not finish and why; None when every one did."""
    record = read_fleet(directory) or {}
    failed = [h for h in record.get("hosts", []) if h["status"] != "complete"]
    if not failed:
        return None
    return "; ".join(f"{h['host']}: {h['status']}" + (f": {h['reason']}" if h.get("reason") else "")
                     for h in failed) + f" (every host's results are in {directory})"
