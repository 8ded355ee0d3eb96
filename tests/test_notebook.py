"""notebooks/analysis.ipynb runs top to bottom, headless, on the recorded fixture run tests/data/runs/small."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"
FIXTURE_RUN = ROOT / "tests" / "data" / "runs" / "small"
CELL_TIMEOUT_S = 120


def _text(output) -> str:
    """Everything an output shows as text: a stream's text or a display's text/plain and text/html."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data.get(kind, "")) for kind in ("text/plain", "text/html"))


def _tagged(nb, tag: str):
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def test_committed_notebook_is_clean():
    """The notebook is stored without outputs and has its papermill-style parameters cell."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "commit the notebook with outputs cleared"
    assert "VBENCH_RUN" in _tagged(nb, "parameters").source


@pytest.mark.timeout(900)
def test_notebook_runs_on_fixture(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    # The kernel is a child process and inherits the environment: the notebook reads VBENCH_RUN.
    monkeypatch.setenv("VBENCH_RUN", str(FIXTURE_RUN))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError on the first cell that raises

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors

    params = "\n".join(_text(o) for o in _tagged(nb, "parameters").outputs)
    assert str(FIXTURE_RUN) in params and "VBENCH_RUN" in params

    table = "\n".join(_text(o) for o in _tagged(nb, "overhead-table").outputs)
    assert "docker:volume" in table
    run = json.loads((FIXTURE_RUN / "run.json").read_text())
    for case in (entry["name"] for entry in run["suite"]["entries"]):
        assert case in table, f"case {case} missing from the overhead table output"

    # Three figures: the overhead bars, the distributions and the time series of a trial whose samples file was
    # kept (the fixture keeps only a few of them).
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3
