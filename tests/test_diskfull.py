"""A full disk is a value, on a real small tmpfs: refused before a run when the plan cannot fit, and when it fills
under a run (a native one, a docker one) one line and exit 1, every trial written before kept whole, no temporary
file, nothing left running, and ``--resume`` finishing the run once space is freed."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, VBENCH, default_sigint
from vbench.diskspace import NoSpace, append_line, write_atomic


def fill(directory: Path) -> Path:
    """Fill ``directory``'s filesystem to the last byte with one file; the file (delete it to free the space)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = 1 << 16
        while size:  # ever smaller writes, down to one byte, until not even that fits
            try:
                os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                size //= 2
    finally:
        os.close(fd)
    return filler


def leftovers(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.name.endswith(".tmp"))


def test_a_line_is_appended_whole_or_not_at_all_and_a_replace_leaves_no_temporary(small_fs):
    mount = small_fs("64k")
    log = mount / "trials.jsonl"
    append_line(log, b'{"first": 1}\n')
    filler = fill(mount)
    with pytest.raises(NoSpace, match=r"cannot write .*trials.jsonl: No space left on device \(0 B free there\)"):
        append_line(log, b'{"second": "' + b"x" * 20000 + b'"}\n')
    assert log.read_bytes() == b'{"first": 1}\n'
    with pytest.raises(NoSpace, match="report.html"):
        write_atomic(mount / "report.html", "<html>" + "x" * 20000)
    assert not (mount / "report.html").exists() and leftovers(mount) == []
    filler.unlink()
    append_line(log, b'{"second": 2}\n')
    assert log.read_text().splitlines() == ['{"first": 1}', '{"second": 2}']


def test_an_interrupt_keeps_a_whole_line_and_cuts_a_half_written_one(tmp_path, monkeypatch):
    """SIGTERM arrives as KeyboardInterrupt: during the fsync of a line written whole, the line (a finished trial)
    stays; between two partial writes of one line, the part is cut back off. (Found in a fresh-clone run: a
    trial was dropped when the interrupt landed in the fsync.)"""
    import vbench.diskspace as diskspace

    path = tmp_path / "trials.jsonl"
    path.write_bytes(b'{"a": 1}\n')

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(diskspace.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        append_line(path, b'{"b": 2}\n')
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    monkeypatch.undo()
    calls, real_write = [], os.write

    def one_byte_then_interrupt(fd, data):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_write(fd, bytes(data[:1]))

    monkeypatch.setattr(diskspace.os, "write", one_byte_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        append_line(path, b'{"c": 3}\n')
    monkeypatch.undo()
    assert calls == [1]  # one byte of the line was written before the interrupt, and cut back off
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'


def test_a_results_filesystem_smaller_than_the_plan_is_refused_before_anything_runs(small_fs, tmp_path):
    mount = small_fs("256k")
    done = subprocess.run([*VBENCH, "run", "--suite", "cpu", "--env", "native", "--quick", "--no-aa", "--output",
                           str(mount / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "the results directory" in lines[0] and "free; this run needs about" in lines[0]
    assert not (mount / "res").exists() or not any((mount / "res").iterdir())  # no run was begun


SLOW = """
name = "filling"
[plan]
warmup_rounds = 0
min_rounds = 24
max_rounds = 24
[[workload]]
name = "loop"
use = "cpu.pyloop"
params = { seconds = 0.2 }
"""


def fill_under_a_run(tmp_path: Path, results: Path, env: str) -> None:
    """Start a run on ``env`` with its results on the small filesystem, fill that once three trials are written,
    check how the run ends and what it leaves, free the space and resume it to the end."""
    suite = tmp_path / "filling.toml"
    suite.write_text(SLOW)
    scratch = tmp_path / "scratch"
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--env", env, "--no-aa", "--no-slices",
                             "--output", str(results), "--scratch", str(scratch)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 240
        trials = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(results.glob("*/trials.jsonl"))
            if found and len(found[0].read_bytes().splitlines()) >= 3:
                trials = found[0]
                break
            time.sleep(0.05)
        assert trials is not None, proc.communicate(timeout=60)[1][-2000:]
        filler = fill(results)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err[-2000:]
    said = [line for line in err.splitlines() if line.startswith("vbench: error:")]
    assert len(said) == 1 and "No space left on device" in said[0] and "free there" in said[0], err[-2000:]
    assert "--resume" in said[0]
    kept = trials.read_bytes()
    assert kept.endswith(b"\n") and all(json.loads(line) for line in kept.splitlines())  # no half line
    assert len(kept.splitlines()) >= 3 and leftovers(results) == []
    assert not scratch.exists() or list(scratch.iterdir()) == []  # torn down: no scratch directory left
    filler.unlink()
    resumed = subprocess.run([*VBENCH, "run", "--resume", str(trials.parent)], cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    lines = trials.read_text().splitlines()
    assert len({json.loads(line)["trial_id"] for line in lines}) == 24 * 2  # every round, native and env
    assert json.loads((trials.parent / "run.json").read_text())["status"] == "complete"
    assert leftovers(results) == []


def test_a_disk_that_fills_under_a_native_run(small_fs, tmp_path):
    fill_under_a_run(tmp_path, small_fs("24m") / "res", "native,native:aa")


@pytest.mark.docker
def test_a_disk_that_fills_under_a_docker_run(small_fs, tmp_path):
    from conftest import require_environment

    require_environment("docker")
    results = small_fs("24m") / "res"
    fill_under_a_run(tmp_path, results, "docker:volume")
    ids = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=vbench.run={next(results.iterdir()).name}"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert ids == []  # the container went with the run, filled disk or not


@pytest.mark.skipif(not shutil.which("debootstrap"), reason="debootstrap is not installed (./setup.sh installs it)")
def test_a_guest_image_cache_too_small_for_a_build_is_refused_before_debootstrap(small_fs):
    """`vbench images build` with its cache on a 1 MiB tmpfs: one line naming the cache and what it needs, exit 1,
    nothing left in the cache."""
    cache = small_fs("1M")
    done = subprocess.run([*VBENCH, "images", "build"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VBENCH_CACHE": str(cache)})
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0] == (f"vbench: error: the guest image cache {cache} has 1.0 MiB free; building the guest image "
                        "needs about 2.0 GiB there (free some space or point it elsewhere)")
    assert list(cache.iterdir()) == []
