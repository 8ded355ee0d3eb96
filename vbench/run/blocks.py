"""The plan's blocks: each workload entry over every environment, measured as whole trials or as paired slices.

Which way an entry is measured is decided once, before the first trial, from what the workload and every
environment can do (``slicing_reason``), and kept in run.json (``slicing``: entry -> why it runs as whole trials,
None when sliced). A round runs its cases in the seed's order (vbench.plan.round_order); a sliced block runs
whole at the place of its first case in that order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from vbench import catalog
from vbench.envs.base import Environment
from vbench.model import BASELINE, Case
from vbench.run.options import RunOptions


@dataclass(frozen=True)
class Block:
    """One workload entry's cases (every environment) and how they are measured."""

    name: str
    cases: tuple[Case, ...]
    whole_because: str | None  # why the entry runs as whole trials; None: as paired slices

    @property
    def sliced(self) -> bool:
        return self.whole_because is None


def plan_blocks(cases: Sequence[Case], active: Mapping[str, Environment], options: RunOptions,
                known: Mapping[str, str | None] | None = None) -> dict[str, Block]:
    """entry name -> its block, in the cases' order; ``known`` (a resumed run's ``slicing``) keeps the decisions
    already recorded."""
    names = list(dict.fromkeys(case.name for case in cases))
    blocks = {}
    for name in names:
        group = [c for c in cases if c.name == name]
        why = known[name] if known is not None and name in known else slicing_reason(group, active, options)
        blocks[name] = Block(name, tuple(group), why)
    return blocks


def slicing(blocks: Mapping[str, Block]) -> dict[str, str | None]:
    """What run.json keeps of the blocks: entry -> why it runs as whole trials, None when sliced."""
    return {name: block.whole_because for name, block in blocks.items()}


def slicing_reason(group: Sequence[Case], active: Mapping[str, Environment], options: RunOptions) -> str | None:
    """Why one entry's cases cannot run as paired slices here, or None when they can."""
    if not options.slices:
        return "slicing turned off (--no-slices)"
    module = catalog.load(group[0].workload)
    if not hasattr(module, "unit"):
        return f"{group[0].workload} has no unit of work to slice"
    if BASELINE not in {c.env.label for c in group}:
        return "no baseline in the block"
    for case in group:
        if not active[case.env.label].keeps_workers:
            return f"{case.env.label} cannot keep a warm worker"
    return None


def units(blocks: Mapping[str, Block], order: Sequence[Case], pending: set[str]) -> list[tuple[Block, list[Case]]]:
    """A round's work in its order: each pending case of a whole block on its own; a sliced block once, at the
    place of its first pending case, with all its cases in the round's order (a resumed block runs the baseline
    again for calibration; its stored trial stands). ``pending``: the case ids not yet done this round."""
    out: list[tuple[Block, list[Case]]] = []
    started = set()
    for case in order:
        if case.case_id not in pending:
            continue
        block = blocks[case.name]
        if not block.sliced:
            out.append((block, [case]))
        elif block.name not in started:
            started.add(block.name)
            out.append((block, [c for c in order if c.name == block.name]))
    return out
