"""The plan's blocks: each workload entry over every environment, measured as whole trials or as paired slices.

Which way an entry is measured is decided once, before the first trial, from what the workload and every
environment can do (``slicing_reason``), and kept in run.json (``slicing``: entry -> why it runs as whole trials,
None when sliced). In a sliced block an environment that cannot count a paused fio's work (its storage is not
block storage: ``Environment.cannot_slice_io``) runs its cases as whole trials beside the others' slices, kept
as ``"<entry> @ <environment>"`` -> why. A round runs its cases in the seed's order (vbench.plan.round_order); a
sliced block runs whole at the place of its first case in that order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from vbench import catalog
from vbench.envs.base import Environment
from vbench.model import BASELINE, Case
from vbench.run.options import RunOptions
from workloads.run import fill_params


@dataclass(frozen=True)
class Block:
    """One workload entry's cases (every environment) and how they are measured."""

    name: str
    cases: tuple[Case, ...]
    whole_because: str | None  # why the entry runs as whole trials; None: as paired slices
    whole_envs: Mapping[str, str] = field(default_factory=dict)  # in a sliced block: label -> why it runs whole

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
        if known is not None and name in known:
            apart = {c.env.label: str(known[env_key(name, c.env.label)]) for c in group
                     if known.get(env_key(name, c.env.label))}
        else:
            apart = {} if why is not None else whole_environments(group, active)
        if BASELINE in apart:
            why, apart = f"the baseline cannot be sliced: {apart[BASELINE]}", {}
        blocks[name] = Block(name, tuple(group), why, apart)
    return blocks


def env_key(name: str, label: str) -> str:
    return f"{name} @ {label}"


def whole_environments(group: Sequence[Case], active: Mapping[str, Environment]) -> dict[str, str]:
    """In a block that can be sliced, the environments whose cases run as whole trials, and why: those that
    cannot count a paused fio's work (for a workload whose unit needs it, ``SLICES_COUNT_BLOCK_IO``)."""
    if not getattr(catalog.load(group[0].workload), "SLICES_COUNT_BLOCK_IO", False):
        return {}
    out = {}
    for case in group:
        why = active[case.env.label].cannot_slice_io()
        if why:
            out[case.env.label] = why
    return out


def slicing(blocks: Mapping[str, Block]) -> dict[str, str | None]:
    """What run.json keeps of the blocks: entry -> why it runs as whole trials, None when sliced; and for an
    environment that runs whole in a sliced block, "<entry> @ <environment>" -> why."""
    out: dict[str, str | None] = {}
    for name, block in blocks.items():
        out[name] = block.whole_because
        out.update({env_key(name, label): why for label, why in block.whole_envs.items()})
    return out


def slicing_reason(group: Sequence[Case], active: Mapping[str, Environment], options: RunOptions) -> str | None:
    """Why one entry's cases cannot run as paired slices here, or None when they can."""
    if not options.slices:
        return "slicing turned off (--no-slices)"
    module = catalog.load(group[0].workload)
    if not hasattr(module, "unit"):
        return f"{group[0].workload} has no unit of work to slice"
    if hasattr(module, "cannot_slice"):
        params_reason = module.cannot_slice(fill_params(module, dict(group[0].params)))
        if params_reason:
            return str(params_reason)
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
        elif case.env.label in block.whole_envs:
            out.append((Block(block.name, (case,), block.whole_envs[case.env.label]), [case]))
        elif block.name not in started:
            started.add(block.name)
            out.append((block, [c for c in order if c.name == block.name and c.env.label not in block.whole_envs]))
    return out
