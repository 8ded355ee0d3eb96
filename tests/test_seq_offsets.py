"""benchmarks/seq_offsets.py on a recorded run (tests/data/runs/seq-layout): its offsets are the report's
per-round log ratios against native, read here through the tidy table instead, and its layout and placement
lines say what the trials recorded."""
from __future__ import annotations

import importlib.util
import math
import re
import statistics
from pathlib import Path

import pytest

from vbench.store import load_trials

ROOT = Path(__file__).parents[1]
RUN = ROOT / "tests" / "data" / "runs" / "seq-layout"
SMALL = ROOT / "tests" / "data" / "runs" / "small"


def script():
    spec = importlib.util.spec_from_file_location("seq_offsets", ROOT / "benchmarks" / "seq_offsets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def offsets_from_table(case: str) -> dict[str, list[float]]:
    """Each environment's per-round overhead against native (% as a log ratio, positive = slower)."""
    frame = load_trials(RUN)
    rows = frame[(frame.case == case) & frame.primary & ~frame.warmup & (frame.status == "ok")]
    wide = rows.pivot(index="round", columns="environment", values="value")
    return {env: [-100 * math.log(v / n) for v, n in zip(wide[env], wide["native"])]
            for env in wide.columns if env != "native"}


@pytest.mark.parametrize("case", ["seq-read-1m", "seq-write-1m"])
def test_each_sides_offset_is_the_mean_per_round_log_ratio_against_native(capsys, case):
    assert script().main([str(RUN), "--case", case]) == 0
    out = capsys.readouterr().out
    for env, offsets in offsets_from_table(case).items():
        line = re.search(rf"^  {re.escape(env)}\s+([+-]\d+\.\d)% \(SD\s+(\d+\.\d), (\d+) rounds\)", out, re.M)
        assert line, f"{env} missing from:\n{out}"
        assert float(line.group(1)) == pytest.approx(statistics.mean(offsets), abs=0.051)
        assert float(line.group(2)) == pytest.approx(statistics.stdev(offsets), abs=0.051)
        assert int(line.group(3)) == len(offsets)


def test_layout_order_spread_and_placement_are_read_from_the_trials(capsys):
    assert script().main([str(RUN), "--case", "seq-read-1m"]) == 0
    out = capsys.readouterr().out
    orders = re.findall(r"its layout ended after native's in (\d+) of (\d+)", out)
    assert len(orders) == 4 and all(int(k) <= int(n) == 10 for k, n in orders)
    spread = re.search(r"median spread of starts (\d+\.\d+) s, ends (\d+\.\d+) s", out)
    assert spread and float(spread.group(1)) <= float(spread.group(2))
    every = re.search(r"every side\s+low\s+([+-]\d+\.\d)% \(n=(\d+)\), high\s+([+-]\d+\.\d)% \(n=(\d+)\)", out)
    assert every and int(every.group(2)) + int(every.group(4)) == 50  # 5 sides x 10 rounds, each placed


def test_a_run_without_layouts_says_placement_was_not_recorded(capsys):
    assert script().main([str(SMALL)]) == 0
    assert "placement: not recorded" in capsys.readouterr().out


def test_a_case_the_run_does_not_have_is_an_error(capsys):
    assert script().main([str(RUN), "--case", "no-such-case"]) == 1
    assert "no finished measured trials" in capsys.readouterr().err
