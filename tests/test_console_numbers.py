"""The console's measured values on the recorded run read with their units, one way (vbench.fmt.quantity): the
progress line of each trial in a log, the summary's table, compare's table."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from conftest import DATA
from vbench import compare, store
from vbench.console import progress, summary

RUN = DATA / "runs" / "small"


def recording() -> Console:
    """A console as a pipe or a CI log has it: not a terminal, wide enough for every table."""
    return Console(file=io.StringIO(), width=200, force_terminal=False, highlight=False)


def test_a_trials_progress_line_gives_its_primary_value_with_its_unit(monkeypatch):
    log = recording()
    monkeypatch.setattr(progress, "err", log)
    bar = progress.RichProgress()
    bar.started(RUN, 60)
    for trial in list(store.iter_trials(RUN))[:4]:
        bar.trial_finished(trial)
    bar.close()
    lines = [line for line in log.file.getvalue().splitlines() if line.startswith("[")]
    assert lines[:2] == ["[1/60] w001-pyloop@native: ok ops=10.6M ops/s",
                         "[2/60] w001-sha256@native: ok throughput=1.23 GiB/s"]
    assert "ok ops=6.21k ops/s" in log.file.getvalue() and "e+0" not in log.file.getvalue()


def test_the_summary_table_gives_each_median_with_its_unit(monkeypatch):
    shown = recording()
    monkeypatch.setattr(summary, "out", shown)
    summary.print_summary(RUN)
    text = shown.file.getvalue()
    for row in (("fsync", "2.82k ops/s", "6.31k ops/s"), ("pyloop", "8.47M ops/s", "10.7M ops/s"),
                ("sha256", "1.29 GiB/s", "1.31 GiB/s")):
        line = next(line for line in text.splitlines() if f" {row[0]} " in line and "docker:volume" in line)
        assert row[1] in line and row[2] in line and line.index(row[1]) < line.index(row[2]), line
    assert "e+0" not in text and "over 3 cases, from" in text


@pytest.mark.parametrize("case, median", [("fsync", "2.82k ops/s"), ("pyloop", "8.47M ops/s"),
                                          ("sha256", "1.29 GiB/s")])
def test_compare_gives_each_sides_median_with_its_unit(case, median):
    shown = recording()
    shown.print(compare.format_text(compare.compare_runs(RUN, RUN)))
    line = next(line for line in shown.file.getvalue().splitlines() if f" {case} " in line and " native " in line)
    assert line.count(median) == 2, line  # A and B
    assert median in compare.format_html(compare.compare_runs(RUN, RUN))
