"""A clean start for I/O blocks (vbench.run.writeback): sync, then wait until Dirty and Writeback are low."""
from __future__ import annotations

from pathlib import Path

from vbench.run import writeback


class Host:
    """/proc/meminfo's Dirty and Writeback as a sequence of readings, and a clock that the waits advance."""

    def __init__(self, readings):
        self.readings, self.now, self.syncs = list(readings), 0.0, 0

    def read(self):
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def sync(self):
        self.syncs += 1

    def sleep(self, seconds):
        self.now += seconds

    def settle(self, timeout=writeback.SETTLE_TIMEOUT_S):
        return writeback.settle(timeout, read=self.read, sync=self.sync, clock=lambda: self.now, sleep=self.sleep)


def test_a_clean_host_costs_one_sync_and_no_wait():
    host = Host([(100, 0)])
    settled = host.settle()
    assert settled.clean and settled.waited_s == 0 and host.syncs == 1
    assert settled.as_info() == {"dirty_kb_before": 100, "writeback_kb_before": 0, "dirty_kb": 100,
                                 "writeback_kb": 0, "waited_s": 0.0, "clean": True}


def test_a_dirty_host_is_waited_for_until_its_pages_are_written_back():
    host = Host([(500_000, 20_000), (300_000, 90_000), (40_000, 30_000), (2_000, 0)])
    settled = host.settle()
    assert settled.clean and (settled.dirty_kb_before, settled.writeback_kb_before) == (500_000, 20_000)
    assert (settled.dirty_kb, settled.writeback_kb) == (2_000, 0)
    assert settled.waited_s == 3 * writeback.POLL_S


def test_a_host_that_keeps_writing_is_given_up_on_and_says_so():
    host = Host([(400_000, 50_000)])
    settled = host.settle(timeout=1.0)
    assert not settled.clean and settled.waited_s >= 1.0


def test_the_host_meminfo_is_read(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nDirty:              1234 kB\nWriteback:            56 kB\n")
    assert writeback.dirty(str(meminfo)) == (1234, 56)
    assert all(v >= 0 for v in writeback.dirty())
