"""Third-party workloads and environments: the example package (examples/vbench-example) installed for real, then
listed and run through the CLI; the worked examples in docs/plugins.md are that package's files; broken plugins
fail with one line naming the package."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vbench
from conftest import ROOT, VBENCH, require_environment

EXAMPLE = ROOT / "examples" / "vbench-example"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package installed by pip into a directory of its own (offline: no index, no build isolation),
    as a user's ``pip install`` would; a copy is built so the tree gets no build/ or egg-info."""
    base = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(EXAMPLE, base / "source", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "--target", str(base / "site"), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return base / "site"


def vbench_with(path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(path), "COLUMNS": "250"}
    return subprocess.run([*VBENCH, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def row(listing: str, name: str) -> str:
    """The line of ``vbench list``'s plain-text form (its form when piped) that names ``name``."""
    return next(line for line in listing.splitlines() if line.lstrip().startswith(f"{name}:"))


def test_the_installed_example_appears_in_vbench_list_with_where_it_came_from(site):
    done = vbench_with(site, "list")
    assert done.returncode == 0, done.stderr
    assert "[from vbench-example 0.1.0]" in row(done.stdout, "example.fib")
    assert "[from vbench-example 0.1.0]" in row(done.stdout, "unshare")
    assert "[from" not in row(done.stdout, "cpu.sha256") and "[from" not in row(done.stdout, "native")  # built-in
    shown = json.loads(vbench_with(site, "list", "--format", "json").stdout)
    assert {w["workload"]: w["from"] for w in shown["workloads"]}["example.fib"] == "vbench-example 0.1.0"
    assert {e["environment"]: e["from"] for e in shown["environments"]}["native"] == "built-in"


def test_without_the_package_neither_is_listed():
    import importlib.metadata

    try:
        installed = importlib.metadata.distribution("vbench-example")
        pytest.skip(f"the example is installed in this environment ({installed.locate_file('')})")
    except importlib.metadata.PackageNotFoundError:
        pass
    done = subprocess.run([*VBENCH, "list"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    assert "example.fib" not in done.stdout and "unshare" not in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("how", [[], ["--no-slices"]], ids=["paired-slices", "whole-trials"])
def test_the_example_workload_runs_natively_and_in_the_example_environment(site, tmp_path, how):
    """Both paths reach the third-party module: the warm worker (slices) and the runner (whole trials)."""
    done = vbench_with(site, "run", "--suite", str(EXAMPLE / "fib.toml"), "--max-rounds", "3", "--warmup", "0",
                       "--output", str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch"), *how)
    assert done.returncode == 0, done.stderr
    trials = vbench.load(next((tmp_path / "res").iterdir()))
    assert set(trials.environment) == {"native", "native:aa", "unshare"}
    assert set(trials.workload) == {"example.fib"} and set(trials.status) == {"ok"}
    assert (trials[trials.metric == "calls_per_s"].value > 0).all()
    assert not list((tmp_path / "scratch").glob("*")), "a scratch directory was left behind"


def test_the_example_environment_runs_in_its_own_pid_namespace(site):
    """It is what it says: what runs through its command is PID 1 of a namespace of its own."""
    code = ("import subprocess, sys; from vbench_example.unshare import UNSHARE, Unshare; "
            "a = Unshare.available(); print(a.reason) if not a else "
            "subprocess.run([*UNSHARE, sys.executable, '-c', 'import os; print(\\'pid\\', os.getpid())'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    if "pid" not in done.stdout:
        pytest.skip(f"unshare unavailable: {done.stdout.strip()}")
    assert done.stdout.split() == ["pid", "1"]


@pytest.mark.docker
@pytest.mark.slow
def test_a_third_party_workload_reaches_containers(site, tmp_path):
    """The package is mounted read-only beside vbench's workloads, so the same module runs in the container."""
    require_environment("docker")
    done = vbench_with(site, "run", "--suite", str(EXAMPLE / "fib.toml"), "--env", "native,docker:volume",
                       "--no-aa", "--max-rounds", "3", "--warmup", "0", "--output", str(tmp_path / "res"),
                       "--scratch", str(tmp_path / "scratch"), timeout=900)
    assert done.returncode == 0, done.stderr
    trials = vbench.load(next((tmp_path / "res").iterdir()))
    assert set(trials.environment) == {"native", "docker:volume"} and set(trials.status) == {"ok"}


def test_the_vm_payload_carries_the_third_party_packages(tmp_path, monkeypatch):
    """A guest reads the packages from its payload disk at /opt/vbench/plugins/<package>."""
    if shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None:
        pytest.skip("mkfs.ext4 or debugfs missing (e2fsprogs)")
    from vbench import catalog
    from vbench.envs import qemu

    monkeypatch.setattr(catalog, "plugin_sources", lambda: [EXAMPLE / "vbench_example"])
    image = qemu.build_payload(str(tmp_path))
    listing = subprocess.run(["debugfs", "-R", "ls -p /plugins/vbench_example", image], capture_output=True,
                             text=True, timeout=60).stdout
    assert "/fib.py/" in listing and "/unshare.py/" in listing


def fake_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str] | None = None) -> Path:
    """A distribution as an installer leaves it (a dist-info with entry_points.txt) and its modules, on a path."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    for module, text in (modules or {}).items():
        (root / f"{module}.py").write_text(text)
    return root


@pytest.mark.parametrize("entry_points, modules, said", [
    ("[vbench.workloads]\ncpu.sha256 = broken_mod\n", {"broken_mod": ""},
     "workload 'cpu.sha256' of broken 0.1 (entry point group vbench.workloads): the name is taken by built-in"),
    ("[vbench.workloads]\nfib = broken_mod\n", {"broken_mod": ""}, "a workload's name is 'kind.name'"),
    ("[vbench.workloads]\nmine.one = broken_mod\n", {"broken_mod": "raise ImportError('no numpy in guests')\n"},
     "workload mine.one of broken 0.1: broken_mod cannot be imported: ImportError: no numpy in guests"),
    ("[vbench.workloads]\nmine.one = broken_mod\n", {"broken_mod": "PARAMS = {}\n"},
     "workload mine.one of broken 0.1: broken_mod lacks run, METRICS, RULES"),
    ("[vbench.workloads]\nmine.one = not_installed\n", {}, "module 'not_installed' is not installed"),
    ("[vbench.environments]\nnative = broken_mod:Env\n", {"broken_mod": ""}, "the name is taken by built-in"),
    ("[vbench.environments]\nodd = broken_mod:Env\n", {"broken_mod": "Env = object\n"},
     "environment odd of broken 0.1: broken_mod:Env is not an Environment whose kind is 'odd'"),
], ids=["name-taken", "bad-name", "import-error", "not-a-workload", "not-installed", "kind-taken", "not-a-class"])
def test_a_broken_plugin_is_one_line_naming_its_package(tmp_path, entry_points, modules, said):
    done = vbench_with(fake_distribution(tmp_path, "broken", entry_points, modules), "list")
    assert done.returncode != 0
    assert said in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def shown_files() -> dict[str, str]:
    """Each code block of docs/plugins.md introduced by a line naming a file of the example (`examples/...`:)."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"^`(examples/[^`]+)`:\n\n```\w*\n(.*?)^```", text,
                                                         re.MULTILINE | re.DOTALL)}


def test_the_docs_worked_examples_are_the_example_packages_files():
    """docs/plugins.md shows the whole example; this test is what keeps it the package the tests install and run."""
    shown = shown_files()
    assert {"examples/vbench-example/pyproject.toml", "examples/vbench-example/vbench_example/fib.py",
            "examples/vbench-example/vbench_example/unshare.py", "examples/vbench-example/fib.toml"} <= set(shown)
    for path, block in shown.items():
        assert block == (ROOT / path).read_text(), f"docs/plugins.md's {path} is not the file"
