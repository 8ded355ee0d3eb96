"""Like with like: each kind of mismatch (engine, queue depth, end-to-end mode) turns an overhead into "not
comparable", in the table and in the claims; the io_mode names both sides; every flag has a meaning."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from vbench import validity
from vbench.claims import HOLDS, NOT_RUN, Claim, evaluate
from vbench.model import Case, EnvSpec, Execution
from vbench.run.record import Measurement, to_trial, with_io_path
from vbench.stats import NOT_COMPARABLE, overhead_table
from vbench.store import TRIAL_COLUMNS, from_record, to_record, trial_rows
from conftest import DATA

DIRECT_QD32 = {"ioengine": "libaio", "io_mode": "direct"}
VIRTIOFS_OLD = validity.HostPath("virtiofsd cache=auto", honours_direct=False)


def trial_of(case, execution, collected, seq):
    """The trial a whole execution of ``case`` in round 1 makes (vbench.run.record)."""
    return to_trial(Measurement.of_execution(case, 1, "t", execution, collected), seq)



def fio_trial(env: str, rnd: int, value: float, info: dict, iodepth: int = 32) -> dict:
    """A measured fio trial record as the runner stores it (only the fields the tidy table reads)."""
    return {"run_id": "r", "trial_id": f"{env}-{rnd}", "round": rnd, "warmup": False, "seq": rnd,
            "case": "rand-read-4k-qd32", "workload": "io.fio", "environment": env, "env_kind": env.split(":")[0],
            "status": "ok", "params": {"rw": "randread", "iodepth": iodepth}, "info": info, "flags": [],
            "metrics": {"read_iops": {"value": value, "unit": "IOPS", "higher_is_better": True}},
            "primary": "read_iops"}


def table_of(env_info: dict, env: str = "docker:tmpfs", base_info: dict = DIRECT_QD32) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    trials = [fio_trial("native", r, 1000 * rng.lognormal(0, 0.02), base_info) for r in range(1, 9)]
    trials += [fio_trial(env, r, 5000 * rng.lognormal(0, 0.02), env_info) for r in range(1, 9)]
    rows = [row for t in trials for row in trial_rows(t)]
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


@pytest.mark.parametrize("env_info, words", [
    ({"ioengine": "psync", "io_mode": "direct"}, "engine libaio vs psync"),
    ({"ioengine": "libaio", "iodepth_effective": 1, "io_mode": "direct"}, "queue depth 32 vs 1"),
    ({"ioengine": "libaio", "io_mode": validity.end_to_end("direct", VIRTIOFS_OLD)},
     "mode direct vs O_DIRECT asked, host page cache"),
    # the tmpfs case of the issue: buffered psync at QD1 against direct libaio at QD32, all three at once
    ({"ioengine": "psync", "iodepth_effective": 1, "io_mode": "buffered+fsync"},
     "engine libaio vs psync, queue depth 32 vs 1, mode direct vs buffered+fsync"),
])
def test_each_mismatch_kind_makes_the_row_not_comparable(env_info, words):
    row = overhead_table(table_of(env_info)).iloc[0]
    assert row["method"] == NOT_COMPARABLE and row["verdict"] == f"not comparable: {words}"
    assert math.isnan(row["overhead_pct"]) and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert row["env_median"] > 4 * row["baseline_median"]  # the cross-mode medians stay, for a reader


def test_the_same_operation_compares():
    row = overhead_table(table_of(dict(DIRECT_QD32))).iloc[0]
    assert row["method"].startswith("paired") and row["verdict"].endswith("(faster)")
    vm = {"ioengine": "libaio", "io_mode": validity.end_to_end("direct", validity.HostPath("raw, cache=none", True))}
    row = overhead_table(table_of(vm, env="vm:virtio")).iloc[0]
    assert row["method"].startswith("paired")  # the host's words differ


def test_a_side_that_ran_two_ways_is_not_comparable():
    frame = table_of(dict(DIRECT_QD32))
    fallback = (frame["environment"] == "docker:tmpfs") & (frame["round"] == 3)
    frame.loc[fallback, "operation"] = "engine=psync qd=1 mode=direct"
    row = overhead_table(frame).iloc[0]
    assert row["method"] == NOT_COMPARABLE and "this ran" in row["verdict"]


def net_trial(env: str, rnd: int, value: float, tool: str) -> dict:
    return {"run_id": "r", "trial_id": f"{env}-{rnd}", "round": rnd, "warmup": False, "seq": rnd,
            "case": "tcp-stream", "workload": "net.tcp_stream", "environment": env, "env_kind": "dockernet",
            "status": "ok", "params": {"size": "128k"}, "info": {"tool": tool}, "flags": [],
            "metrics": {"throughput": {"value": value, "unit": "Mbit/s", "higher_is_better": True}},
            "primary": "throughput"}


def test_a_network_client_that_fell_back_is_not_compared_with_the_tool():
    """iperf3 natively against the stdlib client in the container (its iperf3 missing) is another operation."""
    assert validity.operation({"tool": "iperf3"}, {}) == "tool=iperf3"
    rng = np.random.default_rng(3)
    trials = [net_trial("native", r, 20000 * rng.lognormal(0, 0.02), "iperf3") for r in range(1, 9)]
    trials += [net_trial("dockernet:bridge", r, 12000 * rng.lognormal(0, 0.02), "python") for r in range(1, 9)]
    frame = pd.DataFrame([row for t in trials for row in trial_rows(t)], columns=TRIAL_COLUMNS)
    row = overhead_table(frame).iloc[0]
    assert row["method"] == NOT_COMPARABLE and row["verdict"] == "not comparable: client iperf3 vs python"
    frame.loc[frame["environment"] == "dockernet:bridge", "operation"] = "tool=iperf3"
    assert overhead_table(frame).iloc[0]["method"].startswith("paired")


def test_no_claim_counts_a_row_that_is_not_comparable():
    faster = Claim("t", "tmpfs is faster", "folklore", "at_most", ("rand-read*",), env_kind="docker",
                   limit_pct=0.0)
    frame = table_of({"ioengine": "psync", "iodepth_effective": 1, "io_mode": "buffered+fsync"})
    frame["primary"], frame["accelerator"] = True, None
    alone = evaluate(frame, [faster])[0]
    assert alone.verdict == NOT_RUN and "not comparable" in alone.reason
    # beside a comparable case the claim is decided on that one alone, and the other is listed as left out
    good = table_of(dict(DIRECT_QD32), env="docker:volume")
    good["primary"], good["accelerator"] = True, None
    both = evaluate(pd.concat([frame, good[good["environment"] != "native"]]), [faster])[0]
    assert both.verdict == HOLDS and "1 case left out as not comparable" in both.reason
    assert [c["verdict"] for c in both.cases] == [HOLDS, NOT_COMPARABLE]


def marked(info: dict, path: validity.HostPath) -> dict:
    """The record of a trial with ``info``, after vbench.run.record.with_io_path."""
    bare = {"trial_id": "r001-a@vm:virtiofs", "round": 1, "warmup": False, "case": "a", "workload": "io.fio",
            "environment": "vm:virtiofs", "env_kind": "vm", "status": "ok", "info": info}
    trial = from_record(bare)
    return to_record(dataclasses.replace(trial, info=with_io_path(dict(trial.info), path)))


def test_io_mode_names_both_sides_and_the_comparable_part():
    trial = marked({"io_mode": "direct", "ioengine": "libaio"}, VIRTIOFS_OLD)
    assert trial["info"]["io_mode"] == "O_DIRECT asked, host page cache; host: virtiofsd cache=auto"
    assert trial["info"]["workload_io_mode"] == "direct" and trial["info"]["host_path"] == "virtiofsd cache=auto"
    honest = marked({"io_mode": "direct"}, validity.HostPath("virtiofsd cache=auto allow_direct_io", True))
    assert honest["info"]["io_mode"] == "direct; host: virtiofsd cache=auto allow_direct_io"
    buffered = marked({"io_mode": "buffered+fsync"}, VIRTIOFS_OLD)  # not direct: the host's cache says nothing
    assert buffered["info"]["io_mode"] == "buffered+fsync; host: virtiofsd cache=auto"
    cpu = marked({}, VIRTIOFS_OLD)
    assert cpu["info"] == {}
    assert validity.io_mode_meaning(trial["info"]["io_mode"]) == validity.IO_MODES[validity.HOST_CACHED]


def test_a_captured_fio_trial_gets_its_operation():
    execution = Execution((DATA / "runner" / "fio_randread.jsonl").read_text(), "", 0, 1.0)
    case = Case("rand-read", "io.fio", {"rw": "randread"}, EnvSpec("native"))
    record = to_record(trial_of(case, execution, {"psutil": {"read_bytes": 10**9}}, 0))
    result = json.loads((DATA / "runner" / "fio_randread.jsonl").read_text())
    row = dict(zip(TRIAL_COLUMNS, trial_rows(record)[0]))
    assert row["operation"] == (f"engine={result['info']['ioengine']} qd={result['params']['iodepth']} "
                                f"mode={result['info']['io_mode']}")


def test_every_flag_the_code_raises_has_a_meaning():
    raised = {"page-cache-read", "page-cache-unknown", "io-counters-disagree", "clock-disagree", "host-disturbed",
              "python-fallback", "no-numpy", "threads-not-pinned", "in-process-server", "stdlib-fallback"}
    assert raised <= set(validity.FLAGS)
    for name in raised:
        assert "no description known" not in validity.flag_meaning(name)
        assert validity.FLAGS[name].set_by and validity.FLAGS[name].effect


def test_tmpfs_is_memory_whatever_the_o_direct_probe_says():
    """Linux 6.6+ accepts O_DIRECT on tmpfs, so a container's probe there says "direct": the host path makes
    it "O_DIRECT asked, host page cache" and the row against native's direct I/O is not comparable."""
    tmpfs = validity.on_filesystem("a tmpfs mount", "tmpfs")
    assert tmpfs == validity.HostPath("a tmpfs mount on tmpfs (memory)", honours_direct=False, memory=True)
    assert validity.on_filesystem("a volume", "ext4").honours_direct
    assert not validity.on_filesystem("a raw image, QEMU cache=writeback,", "ext4", passes_direct=False).honours_direct
    row = overhead_table(table_of({"ioengine": "libaio", "io_mode": validity.end_to_end("direct", tmpfs)})).iloc[0]
    assert row["verdict"] == "not comparable: mode direct vs O_DIRECT asked, host page cache"


def test_buffered_io_on_memory_is_not_the_same_operation_as_on_a_disk():
    """fsync on tmpfs reaches no device: the fsync, metadata and sqlite rows of docker:tmpfs read "not
    comparable" against native's disk, with both medians, instead of a -98% "overhead"."""
    tmpfs = validity.on_filesystem("a tmpfs mount", "tmpfs")
    mode = validity.end_to_end("buffered+fsync", tmpfs)
    assert mode == "buffered+fsync, in memory; host: a tmpfs mount on tmpfs (memory)"
    assert "memory's" in validity.io_mode_meaning(mode)
    disk = {"io_mode": validity.end_to_end("buffered+fsync", validity.on_filesystem("a directory", "ext4"))}
    row = overhead_table(table_of({"io_mode": mode}, base_info=disk)).iloc[0]
    assert row["verdict"] == "not comparable: mode buffered+fsync vs buffered+fsync, in memory"


def test_the_console_lists_each_end_to_end_mode_once_with_its_environments():
    from vbench.console.summary import io_mode_lines

    frame = pd.DataFrame({"environment": ["native", "vm:virtio", "docker:tmpfs", "native", "cpu-env"],
                          "io_mode": ["direct; host: a directory on ext4", "direct; host: a raw image with QEMU",
                                      "buffered+fsync, in memory; host: tmpfs", "direct; host: a directory on ext4",
                                      None]})
    assert io_mode_lines(frame) == ["I/O modes (host paths: the report's method section):",
                                    "  buffered+fsync, in memory: docker:tmpfs", "  direct: native, vm:virtio"]
    assert io_mode_lines(frame[frame["io_mode"].isna()]) == []
