"""Faults with real processes: SIGTERM and SIGKILL of vbench, resume, a truncated trials file, a crashing or
hanging workload. After each: no finished trial lost, nothing left in the scratch directory."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, VBENCH

SUITE = """
name = "faults"
[plan]
warmup_rounds = 1
min_rounds = 6
max_rounds = 6
timeout_s = {timeout}
[[workload]]
name = "a"
use = "cpu.pyloop"
params = {{ seconds = 0.15 }}
[[workload]]
name = "b"
use = "cpu.sha256"
params = {{ seconds = 0.15, size = "64k" }}
"""


# An interrupted run that has not stopped after this long exits and prints where it was stuck (vbench.cli), so a
# teardown that hangs fails its test with the stack instead of holding the measuring lock past it.
STOP_GRACE_S = 45


def start(tmp_path: Path, suite: str = SUITE, timeout: int = 60) -> subprocess.Popen:
    path = tmp_path / "faults.toml"
    path.write_text(suite.format(timeout=timeout))
    return subprocess.Popen([*VBENCH, "run", "--suite", str(path), "--output", str(tmp_path / "res"), "--scratch",
                             str(tmp_path / "scratch"), "--seed", "11"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "VBENCH_STOP_GRACE_S": str(STOP_GRACE_S)})


def wait_for_trials(tmp_path: Path, count: int, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "res").glob("*/trials.jsonl"))
        if found and len(found[0].read_bytes().splitlines()) >= count:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} trials were written: {proc.communicate()[1][-500:]}")


def trial_ids(trials: Path) -> list[str]:
    return [json.loads(line)["trial_id"] for line in trials.read_text().splitlines() if line.strip()]


def test_sigterm_keeps_trials_and_marks_the_run(tmp_path):
    proc = start(tmp_path)
    trials = wait_for_trials(tmp_path, 4, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=2 * STOP_GRACE_S)
    assert "still stopping" not in stderr, stderr[-4000:]
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert json.loads((trials.parent / "run.json").read_text())["status"] == "interrupted"
    assert len(trial_ids(trials)) >= 4
    assert list((tmp_path / "scratch").iterdir()) == []


STUCK_ENV = """
import time

from vbench.envs.native import Native


class Stuck(Native):
    kind = "stuck"
    summary = "native, whose teardown never ends (the tests' stand-in for an engine that stopped answering)"
    variants = ()

    def teardown(self):
        time.sleep(3600)
"""


def test_an_interrupted_run_whose_teardown_hangs_exits_after_its_grace_and_says_where(tmp_path):
    site = tmp_path / "site"
    info = site / "stuck_env-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "stuck_env.py").write_text(STUCK_ENV)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stuck-env\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vbench.environments]\nstuck = stuck_env:Stuck\n")
    (tmp_path / "faults.toml").write_text(SUITE.format(timeout=60))
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(tmp_path / "faults.toml"), "--env", "stuck", "--output",
                             str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch"), "--seed", "11"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(site), "VBENCH_STOP_GRACE_S": "3"})
    trials = wait_for_trials(tmp_path, 4, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "vbench: still stopping 3 s after the interrupt" in stderr
    assert re.search(r'File ".*stuck_env.py", line \d+ in teardown', stderr), stderr[-2000:]  # where it was stuck
    assert json.loads((trials.parent / "run.json").read_text())["status"] == "interrupted"
    assert len(trial_ids(trials)) >= 4
    from vbench import hostlock

    assert hostlock.held_by(Path(os.environ["VBENCH_STATE"]) / hostlock.LOCK_FILE) is None  # the next run may start
    assert list((tmp_path / "scratch").iterdir()), "its scratch was not torn down"
    done = subprocess.run([*VBENCH, "clean"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "scratch").iterdir()) == []  # the ledger listed what the stuck teardown left


def test_sigkill_then_resume_finishes_the_plan_in_order(tmp_path):
    proc = start(tmp_path)
    trials = wait_for_trials(tmp_path, 5, proc)
    proc.kill()
    proc.wait()
    before = trial_ids(trials)
    with open(trials, "ab") as f:  # a trial caught mid-write by the kill
        f.write(b'{"schema_version": 1, "trial_id": "r00')
    done = subprocess.run([*VBENCH, "run", "--resume", str(trials.parent)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "truncated" in done.stderr or "resuming" in done.stderr
    after = trial_ids(trials)
    assert after[:len(before)] == before  # nothing finished was lost or rewritten
    assert len(after) == len(set(after)) == 2 * 2 * (1 + 6)  # the whole plan (native and the A/A control), once each
    meta = json.loads((trials.parent / "run.json").read_text())
    assert meta["status"] == "complete" and meta["resumed_at"]


def test_resume_replays_the_seeded_order(tmp_path):
    proc = start(tmp_path)
    trials = wait_for_trials(tmp_path, 7, proc)
    proc.kill()
    proc.wait()
    subprocess.run([*VBENCH, "run", "--resume", str(trials.parent)], cwd=ROOT, capture_output=True, timeout=300,
                   check=True)
    resumed = trial_ids(trials)
    other = tmp_path / "clean"
    other.mkdir()
    whole = start(other)
    assert whole.wait(timeout=300) == 0
    assert resumed == trial_ids(next((other / "res").glob("*/trials.jsonl")))  # same seed, same order


def test_resume_of_a_complete_run_is_refused(tmp_path):
    proc = start(tmp_path)
    assert proc.wait(timeout=300) == 0
    run = next((tmp_path / "res").iterdir())
    done = subprocess.run([*VBENCH, "run", "--resume", str(run)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "already complete" in done.stderr


CRASHY = """
name = "crashy"
[plan]
warmup_rounds = 0
min_rounds = 2
max_rounds = 2
timeout_s = {timeout}
[[workload]]
name = "bad"
use = "pytest.benchmark"
params = {{ nodeid = "test_gone.py::test_gone" }}
[[workload]]
name = "hang"
use = "cpu.pyloop"
params = {{ seconds = 600.0 }}
[[workload]]
name = "good"
use = "cpu.pyloop"
params = {{ seconds = 0.1 }}
"""


def test_crashing_and_hanging_workloads_are_failed_trials_and_the_run_goes_on(tmp_path):
    proc = start(tmp_path, CRASHY, timeout=2)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    trials = [json.loads(line) for line in next((tmp_path / "res").glob("*/trials.jsonl")).read_text().splitlines()]
    by_case = {}
    for trial in trials:
        by_case.setdefault(trial["case"], set()).add(trial["status"])
    assert by_case == {"bad": {"failed"}, "hang": {"timeout"}, "good": {"ok"}}
    # A pytest-benchmark case without --pytest-benchmark has no user directory: it fails in the runner, per trial.
    assert ("pytest-benchmark case needs" in stdout or "unavailable" in stdout) and "timeout" in stdout
    assert list((tmp_path / "scratch").iterdir()) == []


def leftovers(run_id: str) -> list[str]:
    """Containers, volumes and networks labelled with the run, and its QEMU/virtiofsd/runner processes."""
    import psutil

    found = []
    for kind in (["ps", "-a", "-q"], ["volume", "ls", "-q"], ["network", "ls", "-q"]):
        out = subprocess.run(["docker", *kind, "--filter", f"label=vbench.run={run_id}"], capture_output=True,
                             text=True).stdout.split()
        found += [f"docker {kind[0]} {name}" for name in out]
    for proc in psutil.process_iter(["cmdline"]):
        if run_id in " ".join(proc.info["cmdline"] or []) and proc.pid != psutil.Process().pid:
            found.append(f"process {proc.pid}")
    return found


KILLED = """
name = "killed"
[plan]
warmup_rounds = 0
min_rounds = 30
max_rounds = 30
timeout_s = 300
[[workload]]
name = "loop"
use = "cpu.pyloop"
params = { seconds = 1.0 }
"""


def test_sigkill_leaves_nothing_after_clean(tmp_path):
    from conftest import require_environment
    from vbench import envs

    for kind in ("docker", "vm"):
        if not envs.env_class(kind).available().ok:
            require_environment(kind)  # skips here, fails in CI
    suite = tmp_path / "killed.toml"
    suite.write_text(KILLED)
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--env", "native,docker:bind,vm:virtiofs",
                             "--output", str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials = wait_for_trials(tmp_path, 4, proc)
    run_id = trials.parent.name
    proc.kill()  # no teardown runs: the container, the VM, virtiofsd and scratch dirs stay behind
    proc.wait()
    assert leftovers(run_id), "a killed run leaves resources for the reaper"
    kept = trial_ids(trials)
    done = subprocess.run([*VBENCH, "clean"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "removed" in done.stdout, done.stdout + done.stderr
    deadline = time.monotonic() + 10
    while leftovers(run_id) and time.monotonic() < deadline:
        time.sleep(0.2)  # SIGKILLed processes take a moment to go
    assert leftovers(run_id) == []
    assert list((tmp_path / "scratch").iterdir()) == []
    assert trial_ids(trials) == kept  # the finished trials are still there
    again = subprocess.run([*VBENCH, "clean"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "nothing left behind" in again.stdout


class EngineProxy:
    """A unix socket that forwards to the host's Docker engine until ``cut()``; then every connection drops and
    new ones are refused, which is what a client sees when dockerd stops. The host's dockerd is never touched."""

    def __init__(self, path: Path):
        import os
        import socket
        import threading

        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        self.target = host.removeprefix("unix://")
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(64)
        self.sockets: list = []
        self.cutting = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.cutting:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.target)
            self.sockets += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(2)
            except OSError:
                pass

    def cut(self) -> None:
        import os
        import socket

        self.cutting = True
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        os.unlink(self.path)
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


LONG = """
name = "long"
[plan]
warmup_rounds = 0
min_rounds = {rounds}
max_rounds = {rounds}
timeout_s = {timeout}
[[workload]]
name = "loop"
use = "cpu.pyloop"
params = {{ seconds = {seconds} }}
"""


def test_an_engine_that_stops_answering_mid_run_stops_that_environment_not_the_run(tmp_path):
    import os

    from conftest import require_environment

    require_environment("docker")
    proxy = EngineProxy(tmp_path / "engine.sock")
    suite = tmp_path / "long.toml"
    suite.write_text(LONG.format(rounds=8, timeout=60, seconds=0.3))
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--env", "native,docker:volume", "--output",
                             str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DOCKER_HOST": f"unix://{proxy.path}"})
    trials = wait_for_trials(tmp_path, 4, proc)
    proxy.cut()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    records = [json.loads(line) for line in trials.read_text().splitlines()]
    docker = [t for t in records if t["environment"] == "docker:volume"]
    native = [t for t in records if t["environment"] == "native"]
    assert len(native) == 8 and all(t["status"] == "ok" for t in native)  # the run went on
    assert len(docker) == 8 and docker[-1]["status"] == "failed" and "stopped" in docker[-1]["error"]
    assert "the Docker engine failed" in docker[-1]["error"]
    assert "stopped" in stdout
    run_id = trials.parent.name
    assert leftovers(run_id), "the container stays until the engine answers again"
    subprocess.run([*VBENCH, "clean"], cwd=ROOT, capture_output=True, timeout=120, check=True)  # the real engine
    assert leftovers(run_id) == [] and list((tmp_path / "scratch").iterdir()) == []


def test_a_container_that_fails_to_start_is_an_error_when_named_and_skipped_by_default(tmp_path):
    from conftest import require_environment

    require_environment("docker")
    suite = tmp_path / "long.toml"
    suite.write_text('environments = ["native", "docker:volume"]\n' + LONG.format(rounds=1, timeout=60, seconds=0.05))
    common = [*VBENCH, "run", "--suite", str(suite), "--output", str(tmp_path / "res"), "--scratch",
              str(tmp_path / "scratch"), "--docker-runtime", "no-such-runtime"]
    named = subprocess.run([*common, "--env", "native,docker:volume"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert named.returncode == 1 and "Traceback" not in named.stderr
    errors = [line for line in named.stderr.splitlines() if line.startswith("vbench: error:")]
    assert len(errors) == 1 and "docker:volume: cannot start the docker:volume container" in errors[0]
    assert "no-such-runtime" in errors[0]
    default = subprocess.run(common, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert default.returncode == 0, default.stderr
    assert "skipped docker:volume: failed to start" in default.stdout
    for run in (tmp_path / "res").iterdir():
        assert leftovers(run.name) == []
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.parametrize("args, reason", [
    (["--no-slices"], "exit status 1"),
    ([], "no warm worker: the worker exited with status 1"),  # the warm worker of paired slices
], ids=["whole-trials", "sliced"])
def test_a_run_in_which_every_measured_trial_failed_exits_non_zero_and_says_why(tmp_path, args, reason):
    import os

    suite = tmp_path / "long.toml"
    suite.write_text(LONG.format(rounds=2, timeout=60, seconds=0.05))
    done = subprocess.run([*VBENCH, "run", "--suite", str(suite), "--output", str(tmp_path / "res"), "--scratch",
                           str(tmp_path / "scratch"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "VBENCH_PYTHON": "/bin/false"})  # every native one fails
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"vbench: error: every measured trial failed (4); the most common reason (4): {reason}")  # with native:aa
    assert (next((tmp_path / "res").iterdir()) / "report.html").exists()  # the failures are still reported


def test_a_guest_that_never_answers_is_killed_and_the_run_goes_on(tmp_path):
    import psutil

    from conftest import require_environment

    require_environment("vm")
    suite = tmp_path / "long.toml"
    suite.write_text(LONG.format(rounds=4, timeout=20, seconds=0.3))
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--env", "native,vm:virtio", "--accel", "tcg",
                             "--agent-grace", "5", "--output", str(tmp_path / "res"), "--scratch",
                             str(tmp_path / "scratch")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    trials = wait_for_trials(tmp_path, 2, proc)
    run_id = trials.parent.name
    qemu = [p for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "qemu-system-x86_64" and run_id in " ".join(p.info["cmdline"] or [])]
    assert len(qemu) == 1
    qemu[0].suspend()  # the guest freezes: its agent never answers again
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    records = [json.loads(line) for line in trials.read_text().splitlines()]
    vm = [t for t in records if t["environment"] == "vm:virtio"]
    assert all(t["status"] == "ok" for t in records if t["environment"] == "native")
    hung = [t for t in vm if t["status"] == "timeout"]
    assert len(hung) == 1 and "did not answer" in hung[0]["error"]
    assert all("stopped" in t["error"] for t in vm if t["status"] == "failed")
    assert leftovers(run_id) == [] and list((tmp_path / "scratch").iterdir()) == []


def test_a_scratch_too_small_for_the_fio_files_is_refused_before_anything_runs(tmp_path, small_fs):
    small = small_fs("8m")
    suite = tmp_path / "full.toml"
    suite.write_text('name = "full"\n[plan]\nwarmup_rounds = 0\nmin_rounds = 2\nmax_rounds = 2\n'
                     '[[workload]]\nname = "big"\nuse = "io.fio"\n'
                     'params = { rw = "write", bs = "1M", size = "64M", runtime = 1.0 }\n')
    done = subprocess.run([*VBENCH, "run", "--suite", str(suite), "--output", str(tmp_path / "res"),
                           "--scratch", str(small / "scratch")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "the scratch root" in said[0] and "8.0 MiB free" in said[0], done.stderr
    assert not (tmp_path / "res").exists() or list((tmp_path / "res").iterdir()) == []


def test_a_workload_that_fills_the_scratch_is_a_failed_trial(tmp_path, small_fs):
    """What the check before the run cannot foresee (metadata's many files; another process filling the disk):
    the workload's own ENOSPC fails its trial, and the run goes on."""
    small = small_fs("8m")
    suite = tmp_path / "full.toml"
    suite.write_text('name = "full"\n[plan]\nwarmup_rounds = 0\nmin_rounds = 2\nmax_rounds = 2\n'
                     '[[workload]]\nname = "big"\nuse = "io.metadata"\n'
                     'params = { files = 20000, file_size = "4k" }\n'
                     '[[workload]]\nname = "small"\nuse = "io.fsync"\nparams = { seconds = 0.1, span = "1M" }\n')
    done = subprocess.run([*VBENCH, "run", "--suite", str(suite), "--no-slices", "--output",
                           str(tmp_path / "res"), "--scratch", str(small / "scratch")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line)
               for line in next((tmp_path / "res").glob("*/trials.jsonl")).read_text().splitlines()]
    big = [t for t in records if t["case"] == "big"]
    assert big and all(t["status"] == "failed" for t in big)
    assert all("No space left" in (t["error"] or "") for t in big)
    assert all(t["status"] == "ok" for t in records if t["case"] == "small")
    assert list((small / "scratch").iterdir()) == []


def test_a_start_up_trial_whose_interpreter_hangs_silently_times_out(tmp_path, monkeypatch):
    """Native start-up waits for the first line with the trial's timeout, and the figure is the host's, not a
    guest's (no guest duration)."""
    from vbench import envs
    from vbench.envs.base import Context

    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    spec, cls = envs.resolve("native")
    with cls(spec, Context("startup-hang", str(tmp_path / "scratch"))) as env:
        good = env.execute({"workload": "startup.first_output", "params": {}}, timeout=60).result()
        monkeypatch.setenv("VBENCH_PYTHON", str(silent))
        start = time.monotonic()
        hung = env.execute({"workload": "startup.first_output", "params": {}}, timeout=1.0).result()
        waited = time.monotonic() - start
    assert good["ok"] and good["duration_s"] is None and good["info"]["timed_by"] == "host"
    assert not hung["ok"] and "printed nothing within 1s" in hung["error"] and waited < 30


@pytest.mark.docker
def test_a_container_start_up_that_never_speaks_times_out_at_the_trial_timeout(tmp_path):
    """Docker start-up waits on the attach stream, which blocks while the container is silent: the watchdog kills
    the container at the trial's timeout, and the trial says so (not the SDK's 120 s socket timeout)."""
    from conftest import require_environment
    from vbench import envs
    from vbench.envs.base import Context
    from vbench.images import guest_image
    from vbench.model import EnvOptions

    require_environment("docker")
    tag = f"vbench-test/silent-python:{os.getpid()}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {guest_image().tag}\n"
        "RUN printf '#!/bin/sh\\nexec sleep 600\\n' > /usr/local/bin/python3 && chmod 755 /usr/local/bin/python3\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path)], check=True, capture_output=True,
                   timeout=300)
    try:
        spec, cls = envs.resolve("docker:volume")
        with cls(spec, Context("startup-silent", str(tmp_path / "scratch"))) as env:
            object.__setattr__(env.context, "options", EnvOptions(image=tag))  # start-up's, after provisioning
            start = time.monotonic()
            hung = env.execute({"workload": "startup.first_output", "params": {}}, timeout=2.0).result()
            waited = time.monotonic() - start
            left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=vbench.env=docker:volume-startup",
                                   "--filter", "label=vbench.run=startup-silent"], capture_output=True, text=True)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    assert not hung["ok"] and "did not print 'ready' within 2s" in hung["error"] and waited < 30
    assert left.stdout.split() == []  # the killed container was removed
