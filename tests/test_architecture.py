"""The house rules hold: the import-linter contracts in pyproject.toml are kept, the import graph, read
independently of them, has no circle (function-level imports included), and ruff's stated rules pass."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    """The test dependency ``name`` installed beside this interpreter (setup.sh's .venv)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed beside {sys.executable} (pip install -e '.[test]')")
    return found


def test_the_import_contracts_are_kept() -> None:
    done = subprocess.run([tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    assert "3 kept, 0 broken" in done.stdout


def test_ruff_passes() -> None:
    done = subprocess.run([tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def strongly_connected(graph: grimp.ImportGraph, prefix: str) -> list[list[str]]:
    """The import circles among the modules under ``prefix`` (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith(prefix):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module.startswith(prefix) and module not in index:
            visit(module)
    return circles


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("vbench", "workloads", cache_dir=None)
    assert strongly_connected(graph, "vbench") == []
    assert strongly_connected(graph, "workloads") == []
