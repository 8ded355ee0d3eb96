"""Suite files: built-ins load in both sizes, and every kind of mistake names its field."""
from __future__ import annotations

import pytest

from vbench.errors import VBenchError
from vbench.suite import builtin_names, load_suite, parse_suite, suite_from_dict, with_plan


def minimal(**extra):
    doc = {"name": "s", "workload": [{"name": "a", "use": "cpu.pyloop"}]}
    doc.update(extra)
    return doc


@pytest.mark.parametrize("name", ["cpu", "mem", "io", "net", "startup"])
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
    assert by_name["seq-read-1m"].params["size"] == "32M"
    assert {e.name: e for e in full.entries}["seq-read-1m"].params["size"] == "128M"
    assert quick.plan.max_rounds < full.plan.max_rounds
    assert quick.plan.min_rounds >= 6  # a 95% signed-rank CI needs 6 pairs: quick shrinks the work, not the rounds


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
    ({"name": "s", "workload": [{"use": "io.fio", "params": {"rwmixread": 101}}]}, "params.rwmixread"),
    ({"name": "s", "workload": [{"use": "io.fio", "params": {"runtime": 86400.0}}]}, "params.runtime"),
    ({"name": "s", "workload": [{"use": "io.fio", "params": {"bs": "128M"}}]}, "params.bs"),
    ({"name": "s", "workload": [{"use": "io.fio", "quick": {"iodepth": 0}}]}, "quick.iodepth"),
    ({"name": "s", "quick": {"params": {"rw": "up"}}, "workload": [{"use": "io.fio"}]}, "quick.params.rw"),
    ({"name": "s", "workload": [{"use": "io.fsync", "params": {"sync": "sync"}}]}, "params.sync"),
    ({"name": "s", "workload": [{"use": "io.sqlite", "params": {"journal_mode": "wal2"}}]}, "params.journal_mode"),
    ({"name": "s", "workload": [{"use": "net.udp_rr", "params": {"timeout": 0.0}}]}, "params.timeout"),
    ({"name": "s", "workload": [{"use": "net.tcp_stream", "params": {"host": "$(id)"}}]}, "params.host"),
    ({"name": "s", "workload": [{"use": "pytest.benchmark"}]}, "nodeid must be given"),
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
    assert with_plan(suite, min_rounds=12).plan.max_rounds == 12
    with pytest.raises(VBenchError, match="command line.min_rounds"):
        with_plan(suite, min_rounds=-1)


@pytest.mark.parametrize("params, message", [
    ({"rw": "randread; rm -rf /"},
     "mysuite.toml: workload[0].params.rw: 'randread; rm -rf /' is not one of read, write, randread, randwrite, "
     "randrw"),
    ({"iodepth": 1_000_000_000}, "mysuite.toml: workload[0].params.iodepth: 1000000000 is out of range (1 to 1024)"),
])
def test_values_the_workload_refuses_are_refused_when_parsed(params, message):
    """The suites of the issue: once parsed, and every trial failed (exit 0) or the first one hung for minutes."""
    with pytest.raises(VBenchError) as info:
        parse_suite({"name": "s", "workload": [{"use": "io.fio", "params": params}]}, "mysuite.toml")
    assert str(info.value) == message


SIZE_BELOW_BS = {
    "quick.params": {"name": "s", "quick": {"params": {"size": "64k"}},
                     "workload": [{"use": "io.fio", "params": {"bs": "1M", "size": "256M"}}]},
    "entry quick": {"name": "s", "workload": [{"use": "io.fio", "params": {"bs": "1M", "size": "256M"},
                                               "quick": {"size": "64k"}}]},
}


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("doc", SIZE_BELOW_BS.values(), ids=SIZE_BELOW_BS.keys())
def test_quick_overrides_are_checked_together_with_the_params(doc, quick):
    """An override fine alone may still break bs <= size with the entry's params; refused with or without --quick."""
    with pytest.raises(VBenchError) as info:
        parse_suite(doc, "my.toml", quick=quick)
    assert str(info.value) == "my.toml: workload[0].params with the quick overrides: bs (1M) must be at most size (64k)"


def test_a_resumed_suite_is_checked_too():
    recorded = load_suite("cpu", quick=True).to_dict()
    assert suite_from_dict(recorded).entries == load_suite("cpu", quick=True).entries
    recorded["entries"][0]["params"]["loops"] = 10**15
    with pytest.raises(VBenchError, match=r"^run.json: suite.entries\[0\].params.loops: 1000000000000000 is out"):
        suite_from_dict(recorded)
