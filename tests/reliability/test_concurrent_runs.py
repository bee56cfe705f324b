"""Several `harness run` processes on one results folder: every record intact, no variant
computed twice, a variant held by a live process waited for (or, with --no-wait, left to it
with exit 3), and who holds it said.

How it starts what it needs: each run is a real `python -m harness.cli run` process
(runs.py). "Another process" holding a variant is first this test process itself, taking
the variant's lock through the store as a run does (records/store.locked), so the test
decides when it is let go; then two real runs started at the same moment race for every
variant of one suite.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from runs import Layout, parse_all, scores, temp_files, workers

from harness.records.store import locked
from harness.suite.loading import load_suite
from harness.suite.plan import plan

STARTED = re.compile(r"^\[\d+/\d+\] (\S+) \(method", re.M)


def _folder(layout: Layout, name: str):
    variant = next(v for v in plan(load_suite(str(layout.suite))) if v.name == name)
    return layout.results / variant.suite / variant.id


@pytest.mark.slow
def test_a_held_variant_is_waited_for_and_with_no_wait_left_to_its_holder(tmp_path):
    layout = Layout.make(tmp_path)
    lora = _folder(layout, "lora")
    with locked(lora):  # this process is now "the other run" computing lora
        waiting = layout.start()
        left = layout.start("--no-wait", "--only", "lora")
        out_left = left.communicate(timeout=300)[0].decode()
        assert left.returncode == 3, out_left  # incomplete: left to another run
        assert f"busy  lora (seed 0): pid {os.getpid()} on " in out_left
        assert not (lora / "record.json").exists()
        deadline = time.monotonic() + 300
        while not all((_folder(layout, n) / "record.json").exists() for n in ("baseline", "full")):
            assert time.monotonic() < deadline and waiting.poll() is None
            time.sleep(0.2)
        time.sleep(2 * 1.0)  # a poll or two of the waiting run (outcome.LOCK_POLL_SECONDS)
        assert waiting.poll() is None, "the run ended instead of waiting for the held variant"
    out = waiting.communicate(timeout=300)[0].decode()  # let go: the waiting run computes lora itself
    assert waiting.returncode == 0, out
    assert f"wait  lora (seed 0): pid {os.getpid()} on " in out
    assert out.count("wait  lora") == 1  # said once, not at every poll
    assert sorted(STARTED.findall(out)) == ["baseline", "full", "lora"]
    parse_all(layout)
    assert temp_files(layout) == []


@pytest.mark.slow
def test_two_runs_started_together_compute_each_variant_once(tmp_path):
    one, two = Layout.make(tmp_path / "one"), Layout.make(tmp_path / "two")
    two.results = one.results  # the same results folder, the same suite
    first, second = one.start(), two.start()
    outputs = [p.communicate(timeout=600)[0].decode() for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    started = STARTED.findall(outputs[0]) + STARTED.findall(outputs[1])
    assert sorted(started) == ["baseline", "full", "lora"], outputs  # each computed by one run only
    for folder in workers(one.suite_dir):
        log = (folder / "log.txt").read_bytes()
        assert log.count(b"worker pid ") == 1, f"{folder}: more than one worker wrote here"
    assert len(scores(one.suite_dir)) == 3  # every record ok and readable
    parse_all(one)
    assert temp_files(one) == []
