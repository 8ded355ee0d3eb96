"""The documentation still matches the code: the site builds strictly (a broken link or anchor fails), every vbench
command line in the pages' shell blocks parses with vbench's own parser, every suite in docs/suites.md loads and
its reference names every field the loader knows, and the README stays a short guide whose links exist."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import ROOT
from vbench import catalog
from vbench.cli import build_parser
from vbench.errors import VBenchError
from vbench.suite import parse_suite

DOCS = ROOT / "docs"
README = ROOT / "README.md"
SUITES = DOCS / "suites.md"
README_MAX_LINES = 140
SHELL = ("console", "sh", "bash")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"<[^<>\s]+>")  # results/<run-id>: any value parses
SAMPLE = "sample"
OPERATORS = re.compile(r"^[&|;<>]+$")  # what ends a command in a shell line: &&, ||, |, ;, >, <


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def fenced_blocks(path: Path, languages: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(line of the block's first line, language, text) of each fenced block of ``path`` in ``languages``."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)
            if m.group(1) in languages]


def shell_lines(language: str, text: str) -> Iterator[tuple[int, str]]:
    """(offset, command) of each command of a shell block: in a console block, the lines after a "$ " prompt."""
    for offset, line in enumerate(text.splitlines()):
        if language != "console":
            yield offset, line
        elif line.startswith("$ "):
            yield offset, line[2:]


def vbench_arguments(line: str) -> list[list[str]]:
    """The arguments of every vbench a shell line runs (``./setup.sh && .venv/bin/vbench run ...``)."""
    lexer = shlex.shlex(PLACEHOLDER.sub(SAMPLE, line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if OPERATORS.match(token):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command[1:] for command in commands if command and Path(command[0]).name == "vbench"]


def shown_commands() -> list[tuple[str, list[str]]]:
    """(page:line, arguments) of every vbench command line in the README's and the pages' shell blocks."""
    found = []
    for path in pages():
        for first, language, text in fenced_blocks(path, SHELL):
            for offset, line in shell_lines(language, text):
                found += [(where(path, first + offset), args) for args in vbench_arguments(line)]
    return found


def compare_groups(args: list[str]) -> list[str]:
    """``compare A1 A2 -- B1 B2 [options]`` as vbench.cli.main hands it to the parser: the runs after ``--`` are
    the hidden ``--runs-b`` (else argparse would take every word after ``--``, options too, as runs of A)."""
    if args[:1] != ["compare"] or "--" not in args:
        return args
    cut = args.index("--")
    return [*args[:cut], "--runs-b", *args[cut + 1:]]


def parse_error(args: list[str]) -> str | None:
    """What vbench's parser says against ``args``, or None when it takes them (``--help`` included)."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(compare_groups(args))
    except SystemExit as exc:
        if exc.code not in (0, None):
            return said.getvalue().strip().splitlines()[-1]
    return None


def test_the_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[test]')")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    built = {p.parent.name for p in site.glob("*/index.html")}
    assert {p.stem for p in DOCS.glob("*.md")} - {"index"} <= built
    assert (site / "index.html").is_file()


def test_every_vbench_command_line_shown_parses():
    assert parse_error(["run", "--no-such-option"]) is not None  # the check can fail
    assert parse_error(["compare", "a", "--", "b", "--fail-above", "x"]) is not None
    shown = shown_commands()
    assert ["run", "--suite", "io"] in [args for place, args in shown if place.startswith("README.md")]
    assert len({place.split(":")[0] for place, _ in shown}) >= 5, "the pages' shell blocks were not read"
    failures = [f"{place}: vbench {shlex.join(args)}: {error}" for place, args in shown
                if (error := parse_error(args)) is not None]
    assert failures == [], "\n".join(failures)


def suite_problem(text: str, place: str) -> str | None:
    """Why a suites.md TOML block is not a suite the loader takes with a plan an interval needs, or None."""
    try:
        data = tomllib.loads(text)
        suites = [parse_suite(data, place), parse_suite(data, place, quick=True)]
    except tomllib.TOMLDecodeError as exc:
        return f"{place}: {exc}"
    except VBenchError as exc:  # its message starts with the place
        return str(exc)
    short = [s.plan.min_rounds for s in suites if s.plan.min_rounds < 6]
    return f"{place}: min_rounds {short[0]}: six pairs are the fewest an interval needs" if short else None


def test_every_suite_in_the_suites_page_loads():
    shown = fenced_blocks(SUITES, ("toml",))
    assert len(shown) >= 2, "docs/suites.md shows no suite"
    assert suite_problem('name = "x"\n[[workload]]\nuse = "cpu.pyloop"\nparams = { bogus = 1 }\n', "probe")
    problems = [problem for first, _, text in shown if (problem := suite_problem(text, where(SUITES, first)))]
    assert problems == [], "\n".join(problems)


def loader_fields(data: dict[str, Any]) -> list[str]:
    """The fields the suite loader allows where ``data`` has its unknown field ``zz``, as its error lists them."""
    with pytest.raises(VBenchError, match="unknown field 'zz'; allowed: ") as refused:
        parse_suite(data, "probe")
    return str(refused.value).split("allowed: ", 1)[1].split(", ")


def reference_rows(text: str) -> set[str]:
    """The names in the first column of the page's tables (``| `name` | ...``)."""
    return set(re.findall(r"^\| `([^`]+)` \|", text, re.MULTILINE))


def test_the_suite_reference_names_every_field_the_loader_knows():
    text = SUITES.read_text()
    rows = reference_rows(text)
    entry = {"name": "probe", "workload": [{"use": "cpu.pyloop", "zz": 1}]}
    fields = [*loader_fields({"name": "probe", "zz": 1}), *loader_fields({"name": "probe", "plan": {"zz": 1}}),
              *[f"quick.{f}" for f in loader_fields({"name": "probe", "quick": {"zz": 1}})],
              *loader_fields(entry)]
    assert {"name", "min_rounds", "quick.params", "use"} <= set(fields)
    missing = [f for f in fields if f not in rows]
    for name in catalog.workload_names():
        if catalog.origin(name) == catalog.BUILT_IN:
            section = text.split(f"\n### {name}\n", 1)[-1].split("\n### ", 1)[0]
            missing += [f"{name}: {p}" for p in catalog.describe(name).params if p not in reference_rows(section)]
    assert missing == [], f"docs/suites.md's reference lacks: {', '.join(missing)}"


def test_the_readme_stays_a_short_guide():
    lines = README.read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_the_sites_home_page_has_the_readmes_quick_start():
    quick_start = [text for _, _, text in fenced_blocks(README, ("sh",))][:2]
    index = (DOCS / "index.md").read_text()
    assert len(quick_start) == 2 and all(f"```sh\n{text}```" in index for text in quick_start), \
        "docs/index.md's quick start is not the README's"


def slug(heading: str) -> str:
    """A heading's anchor as Python-Markdown's toc (mkdocs) and GitHub make it, for ASCII headings."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def test_every_relative_link_of_the_readme_exists():
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    relative = [link for link in links if not re.match(r"^[a-z]+:", link)]
    assert len([link for link in relative if link.startswith("docs/")]) >= 10
    broken = []
    for link in relative:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and anchor not in anchors(path):
            broken.append(f"{link}: no heading {anchor!r} in {target}")
    assert broken == [], "README.md: " + "; ".join(broken)
