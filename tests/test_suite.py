"""Suite files: built-ins load in both sizes, and every kind of mistake names its field."""
from __future__ import annotations

import pytest

from vbench.errors import VBenchError
from vbench.suite import builtin_names, load_suite, parse_suite, with_plan


def minimal(**extra):
    doc = {"name": "s", "workload": [{"name": "a", "use": "cpu.pyloop"}]}
    doc.update(extra)
    return doc


@pytest.mark.parametrize("name", ["cpu", "mem", "io", "startup"])
@pytest.mark.parametrize("quick", [False, True])
def test_builtin_suites_load(name, quick):
    suite = load_suite(name, quick=quick)
    assert suite.name == name and suite.entries
    assert suite.plan.min_rounds <= suite.plan.max_rounds


def test_builtins_listed():
    assert {"cpu", "mem", "io"} <= set(builtin_names())


def test_quick_shrinks_io_jobs_and_rounds():
    full, quick = load_suite("io"), load_suite("io", quick=True)
    by_name = {e.name: e for e in quick.entries}
    assert by_name["seq-read-1m"].params["size"] == "64M"
    assert {e.name: e for e in full.entries}["seq-read-1m"].params["size"] == "512M"
    assert quick.plan.max_rounds < full.plan.max_rounds


@pytest.mark.parametrize("doc, field", [
    (minimal(name=3), "name"),
    (minimal(name="bad name!"), "name"),
    (minimal(colour="red"), "'colour'"),
    (minimal(plan={"min_rounds": "five"}), "plan.min_rounds"),
    (minimal(plan={"min_rounds": 0}), "plan.min_rounds"),
    (minimal(plan={"min_rounds": 10, "max_rounds": 3}), "plan.max_rounds"),
    (minimal(plan={"timeout_s": -1}), "plan.timeout_s"),
    (minimal(plan={"warmup_rounds": True}), "plan.warmup_rounds"),
    (minimal(plan={"rounds": 3}), "'rounds'"),
    (minimal(environments="native"), "environments"),
    ({"name": "s"}, "workload"),
    ({"name": "s", "workload": [{"use": "cpu.nope"}]}, "workload[0].use"),
    ({"name": "s", "workload": [{"name": "a"}]}, "use: required"),
    ({"name": "s", "workload": [{"use": "cpu.pyloop", "params": {"secs": 1}}]}, "workload[0].params.secs"),
    ({"name": "s", "workload": [{"use": "cpu.pyloop", "params": {"seconds": "1"}}]}, "params.seconds"),
    ({"name": "s", "workload": [{"use": "cpu.pyloop", "params": {"loops": 2.5}}]}, "params.loops"),
    ({"name": "s", "workload": [{"use": "cpu.pyloop", "params": {"seconds": 1e12}}]}, "params.seconds"),
    ({"name": "s", "workload": [{"use": "io.fio", "params": {"size": "huge"}}]}, "params.size"),
    ({"name": "s", "workload": [{"use": "cpu.pyloop"}, {"use": "cpu.pyloop"}]}, "used twice"),
    ({"name": "s", "workload": [{"use": "cpu.pyloop", "quick": {"nope": 1}}]}, "quick.nope"),
])
def test_errors_name_the_field(doc, field):
    with pytest.raises(VBenchError) as info:
        parse_suite(doc, "my.toml")
    message = str(info.value)
    assert message.startswith("my.toml") and field in message
    assert "\n" not in message


def test_syntax_error_is_one_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = 'x'\n[[workload]\n")
    with pytest.raises(VBenchError, match="TOML syntax error"):
        load_suite(str(path))


def test_unknown_suite_lists_builtins():
    with pytest.raises(VBenchError, match="built-in suites: .*cpu"):
        load_suite("nosuch")


def test_command_line_overrides_are_validated():
    suite = load_suite("cpu", quick=True)
    assert with_plan(suite, min_rounds=7).plan.max_rounds == 7
    with pytest.raises(VBenchError, match="command line.min_rounds"):
        with_plan(suite, min_rounds=-1)
