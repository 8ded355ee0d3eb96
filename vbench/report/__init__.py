"""The HTML report of a run: one self-contained file (inline CSS, figures as SVG data URIs, no network).

Sections, in order: the title and what the run is; the verdict on each claim; overhead bars with 95% CIs; the
trials' distributions per workload; collector time series of a typical trial per environment; the host's and the
environments' fingerprints; the method; every trial's primary value. Every string that comes from a result goes
through Jinja2's autoescaping, and figures are images, so nothing in a result can become markup.
"""
from __future__ import annotations

from pathlib import Path

from vbench.diskspace import write_atomic

__all__ = ["build_report", "render_html", "templates"]

TEMPLATE = "template.html.j2"


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of the run in ``run_dir`` to ``out`` (default ``run_dir/report.html``).

    ``run_dir`` is a run directory (or its run.json or trials.jsonl). Returns the path written. Raises
    ``VBenchError`` when ``run_dir`` is not a readable vbench run.
    """
    from vbench import store

    directory = store.run_dir(run_dir)
    html = render_html(directory)
    target = Path(out) if out is not None else directory / "report.html"
    write_atomic(target, html)  # a full disk: one line, and no temporary file left
    return target


def templates():
    """The Jinja environment of every HTML vbench writes (the report, ``vbench compare -o``): the templates
    beside this file, every value escaped, a missing one an error; ``n | plural("host")`` counts as
    ``vbench.fmt.plural`` does."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from vbench import fmt

    # autoescape=True, not select_autoescape: the templates' names end in .j2, which that would not escape.
    environment = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=True,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["plural"] = fmt.plural
    return environment


def render_html(run_dir: Path) -> str:
    """The report of the run in ``run_dir`` as an HTML string."""
    from vbench import store
    from vbench.report.context import report_context

    frame = store.load_trials(run_dir)
    return templates().get_template(TEMPLATE).render(**report_context(Path(run_dir), frame))
