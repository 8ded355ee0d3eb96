"""notebooks/analysis.ipynb is committed with its outputs on the recorded run tests/data/runs/small, so that it
reads where it is browsed; those outputs must be current (re-executed, they come out the same), and the notebook
runs headless on a fleet's directory too, a host at a time.

After a change to the notebook, to vbench's tables or figures, or to the fixture, refresh the committed outputs
(offline, with nbclient and ipykernel from the test extras) from the repository's root:

    .venv/bin/python -m tests.test_notebook --refresh
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"
FIXTURE_RUN = ROOT / "tests" / "data" / "runs" / "small"
# As the kernel sees it: it runs in notebooks/, and a relative path keeps this machine's paths out of the outputs.
FIXTURE_FROM_NOTEBOOK = os.path.relpath(FIXTURE_RUN, NOTEBOOK.parent)
CELL_TIMEOUT_S = 120
REFRESH = ".venv/bin/python -m tests.test_notebook --refresh"


def execute(nb, run: str | Path):
    """``nb`` executed in a fresh kernel (this Python's) on the run or fleet ``run``, in notebooks/: the one way
    the tests and --refresh run it. Raises nbclient's CellExecutionError at the first cell that raises."""
    import nbclient

    env = {**os.environ, "VBENCH_RUN": str(run), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute(env=env)
    for cell in code_cells(nb):  # a stream's pieces joined: where the kernel flushed varies from run to run
        merged = []
        for output in cell.outputs:
            if merged and output.output_type == "stream" and merged[-1].output_type == "stream" \
                    and merged[-1].name == output.name:
                merged[-1].text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
    return nb


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(output) -> str:
    """What an output shows as text: a stream's text, a display's text/plain, an error's name and value."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return str(output.get("data", {}).get("text/plain", ""))


def _tagged(nb, tag: str):
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _images(cell) -> int:
    return sum(1 for o in cell.outputs if any(k.startswith("image/") for k in o.get("data", {})))


def normalised(cell) -> list[tuple]:
    """A code cell's outputs as compared: each stream's text (consecutive ones of a stream joined) and each
    display's text/plain, with which image types it has but not their bytes, and memory addresses masked. A
    table's or a printed number's change shows; a re-rendered figure's pixels do not."""
    out: list[tuple] = []
    for o in cell.outputs:
        kind = o.get("output_type")
        if kind == "stream":
            if out and out[-1][0] == "stream" and out[-1][1] == o.get("name"):
                out[-1] = ("stream", o.get("name"), out[-1][2] + o.get("text", ""))
            else:
                out.append(("stream", o.get("name"), o.get("text", "")))
        elif kind in ("display_data", "execute_result"):
            images = tuple(sorted(k for k in o.get("data", {}) if k.startswith("image/")))
            out.append(("display", _text(o), images))
        else:
            out.append((kind, _text(o)))
    return [tuple(re.sub(r"\b0x[0-9a-fA-F]{6,}\b", "0x…", part) if isinstance(part, str) else part
                  for part in entry) for entry in out]


def _lines(entries: list[tuple]) -> list[str]:
    """Normalised outputs as lines to diff: a line naming each output, then its text."""
    lines = []
    for entry in entries:
        if entry[0] == "stream":
            head, text = f"[{entry[1]}]", entry[2]
        elif entry[0] == "display":
            head, text = f"[display{''.join(' ' + kind for kind in entry[2])}]", entry[1]
        else:
            head, text = f"[{entry[0]}]", entry[1]
        lines += [head, *text.splitlines()]
    return lines


def test_committed_notebook_has_its_outputs_and_its_shape():
    """Valid, executed top to bottom without an error, the run loaded in the first code cell (the parameters
    cell) and the overhead plot drawn by the second; no path of this checkout in any output."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = code_cells(nb)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), \
        f"commit the notebook executed top to bottom: {REFRESH}"
    first, second = cells[0], cells[1]
    assert first is _tagged(nb, "parameters")
    assert "VBENCH_RUN" in first.source and "import vbench" in first.source and "vbench.load(RUN)" in first.source
    assert "figures.forest" in second.source and _images(second) == 1, "the second code cell draws the overheads"
    texts = [_text(o) for c in cells for o in c.outputs]
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert f"RUN = {FIXTURE_FROM_NOTEBOOK!r} (VBENCH_RUN)" in "".join(_text(o) for o in first.outputs)
    mine = [str(ROOT), *([str(Path.home())] if len(Path.home().parts) > 1 else [])]
    assert not [t for t in texts if any(path in t for path in mine)], "a path of this machine in the outputs"


@pytest.mark.timeout(600)
def test_committed_outputs_are_current():
    """Re-executed on the fixture, every code cell prints and displays what the committed notebook shows."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    committed = nbformat.read(NOTEBOOK, as_version=4)
    fresh = execute(copy.deepcopy(committed), FIXTURE_FROM_NOTEBOOK)

    stale = []
    for number, (old, new) in enumerate(zip(code_cells(committed), code_cells(fresh)), 1):
        if normalised(old) != normalised(new):
            diff = difflib.unified_diff(_lines(normalised(old)), _lines(normalised(new)), "committed",
                                        "re-executed", lineterm="", n=2)
            stale.append(f"code cell {number} ({old.get('id')}):\n" + "\n".join(diff))
    assert not stale, f"the committed outputs are not current; refresh them with {REFRESH}\n\n" + "\n\n".join(stale)

    # What the outputs must show, whatever they are refreshed to.
    table = "\n".join(_text(o) for o in _tagged(fresh, "overhead-table").outputs)
    run = json.loads((FIXTURE_RUN / "run.json").read_text())
    for case in (entry["name"] for entry in run["suite"]["entries"]):
        assert case in table, f"case {case} missing from the overhead table output"
    assert "docker:volume" in table and "too few rounds (4)" in table
    # The forest plot, the distributions, and the time series of a trial whose samples file was kept.
    assert sum(_images(c) for c in code_cells(fresh)) >= 3


def make_fleet(where: Path) -> Path:
    """A fleet's directory as `vbench run --host` leaves it (fleet.json, hosts/<label>/ each a run), from the
    fixture: bench-1 its copy; bench-2 one whose docker:volume figures are a third worse, with eight measured rounds
    (so that intervals exist), an A/A control and a VM that ran under TCG; bench-3 failed before its run."""
    fleet = where / "20261130-101500-small-f1ee"
    records = [json.loads(line) for line in (FIXTURE_RUN / "trials.jsonl").read_text().splitlines() if line]
    counts = {}
    for label in ("bench-1", "bench-2"):
        target = fleet / "hosts" / label
        shutil.copytree(FIXTURE_RUN, target)
        run = json.loads((target / "run.json").read_text())
        run["run_id"] = f"{fleet.name}-{label}"
        run["host"]["hostname"] = label
        trials = [{**t, "run_id": run["run_id"]} for t in records]
        if label == "bench-2":
            trials = _second_host(trials, run)
        (target / "run.json").write_text(json.dumps(run, indent=2))
        (target / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trials))
        counts[label] = len(trials)
    hosts = [{"host": label, "label": label, "boot_id": f"boot-{label}", "build": None, "status": "complete",
              "reason": None, "trials": count} for label, count in counts.items()]
    hosts.append({"host": "bench-3", "label": "bench-3", "boot_id": None, "build": None, "status": "failed",
                  "reason": "ssh: connect to host bench-3 port 22: Connection refused", "trials": 0})
    record = {"fleet_version": 2, "fleet_id": fleet.name, "vbench_version": "0.1.0", "build": None,
              "status": "complete", "hosts": hosts, "machines": [[h["label"]] for h in hosts]}
    (fleet / "fleet.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return fleet


def _second_host(trials: list[dict], run: dict) -> list[dict]:
    """bench-2's trials: rounds 5-8 repeat 1-4 (a little apart), docker:volume a third slower, and two more
    environments copied from native: native:aa within 1%, vm:virtio (TCG) ten times slower."""
    def scaled(trial: dict, factor: float, environment: str | None = None) -> dict:
        env = environment or trial["environment"]
        kind, _, variant = env.partition(":")
        metrics = {name: {**m, "value": m["value"] / factor if m["higher_is_better"] else m["value"] * factor}
                   for name, m in (trial.get("metrics") or {}).items()}
        trial_id = trial["trial_id"].replace(f"@{trial['environment']}", f"@{env}")
        return {**trial, "environment": env, "env_kind": kind, "variant": variant or None, "metrics": metrics,
                "trial_id": trial_id, "samples": None if environment else trial.get("samples")}

    def later(trial: dict) -> dict:
        shifted = {**scaled(trial, 1.004), "round": trial["round"] + 4, "seq": trial["seq"] + 100}
        name = trial["trial_id"].replace(f"r{trial['round']:03d}", f"r{trial['round'] + 4:03d}")
        return {**shifted, "trial_id": name}

    trials = trials + [later(t) for t in trials if not t["warmup"]]
    trials = [scaled(t, 4 / 3) if t["environment"] == "docker:volume" else t for t in trials]
    natives = [t for t in trials if t["environment"] == "native"]
    trials += [scaled(t, 1 + 0.004 * (i % 3 - 1), "native:aa") for i, t in enumerate(natives)]
    trials += [scaled(t, 10.0, "vm:virtio") for t in natives]
    run["environments"] = [*run["environments"], "native:aa", "vm:virtio"]
    run["env_fingerprints"]["native:aa"] = {**run["env_fingerprints"]["native"], "variant": "aa"}
    run["env_fingerprints"]["vm:virtio"] = {"kind": "vm", "variant": "virtio", "accelerator": "tcg",
                                            "emulation": True}
    run["rounds"].update(done=8, max=8, stop_reason="round cap 8 reached")
    return trials


@pytest.mark.timeout(600)
def test_notebook_runs_on_a_fleet_a_host_at_a_time(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    fleet = make_fleet(tmp_path)
    nb = execute(nbformat.read(NOTEBOOK, as_version=4), fleet)  # raises at the first cell that raises
    cells = code_cells(nb)
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]

    loaded = "".join(_text(o) for o in cells[0].outputs)
    assert "fleet 20261130-101500-small-f1ee: complete, 3 host(s)" in loaded
    assert "bench-3: failed (ssh: connect to host bench-3 port 22: Connection refused), no run to read" in loaded

    # The plot: a figure per host that ran, each after its host's heading, with the host's own figures.
    plot = [_text(o) if o.output_type == "stream" else "<figure>" for o in cells[1].outputs]
    plot = "".join(plot)
    first, second = plot.index("=== host bench-1"), plot.index("=== host bench-2")
    assert plot.count("<figure>") == 2 and first < plot.index("<figure>") < second < plot.rindex("<figure>")
    assert "no A/A control" in plot[first:second] and "A/A noise floor (native:aa vs native" in plot[second:]
    assert "vm:virtio (TCG emulation): median +900.0%" in plot[second:]
    assert "docker:volume: median" in plot[first:second] and "3 without an interval" in plot[first:second]

    # The table: every row under its host, computed on the host's own trials.
    table = "\n".join(_text(o) for o in _tagged(nb, "overhead-table").outputs)
    assert "bench-1" in table and "bench-2" in table and "bench-3" not in table
    assert "vm:virtio (TCG emulation)" in table and "too few rounds (4)" in table
    assert "-90.9%" in table and "+35.6%" in table  # bench-1's fsync in docker, bench-2's slower sha256
    assert sum(_images(c) for c in cells) >= 5  # two forest plots, two distributions, a time series


def refresh() -> None:
    """Execute the notebook on the fixture and write it back with its outputs."""
    import nbformat

    nb = execute(nbformat.read(NOTEBOOK, as_version=4), FIXTURE_FROM_NOTEBOOK)
    nbformat.validate(nb)
    nbformat.write(nb, NOTEBOOK)
    print(f"{NOTEBOOK.relative_to(ROOT)}: outputs refreshed on {FIXTURE_FROM_NOTEBOOK} "
          f"({NOTEBOOK.stat().st_size} bytes)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--refresh"]:
        sys.exit(f"usage: {REFRESH}")
    refresh()
