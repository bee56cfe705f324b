"""Nothing lost when `harness run` or one of its workers is killed outright, at random moments.

How it starts what it needs: every run is a real `python -m harness.cli run` process
(runs.py), with its own fork server and forked workers; the kills are real SIGKILLs sent
with os.kill, to the run's pid or to a worker's (read from the worker's log). A run killed
that way cannot clean up: its workers stop themselves (harness/run/orphan.py), the kernel
drops its locks, and the rerun must cope with whatever it left.

The long variant saves a checkpoint every 20 steps (checkpoint_every), so a rerun after a
kill in its training resumes from the last one. After each kill the suite is run again to
the end, and then: every file in the results tree parses; no temp file is left; each variant that had finished before the kill is untouched
(its record but for the comparison fields, which every run recomputes whole, its
predictions and its log: same bytes, same mtimes); every score and loss curve equals an
uninterrupted run's; no worker is left running.

CI runs a few moments (HARNESS_KILLS, default 2: one kill of the run, one of a worker);
`python benchmarks/kill_test.py` runs the full count and prints what each moment hit.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest
from runs import Layout, check_after_rerun, finished, kill, resumed, running_worker, scores, wait_gone, workers

KILLS = int(os.environ.get("HARNESS_KILLS", "2"))
REPORT = os.environ.get("HARNESS_KILL_REPORT")  # benchmarks/kill_test.py reads one JSON line per moment


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its scores, and how long it took (the window the kills fall in)."""
    layout = Layout.make(tmp_path_factory.mktemp("reference"))
    start = time.monotonic()
    code, out = layout.run()
    assert code == 0, out
    return scores(layout.suite_dir), time.monotonic() - start


TARGETS = (
    "run-in-training",  # the run, while the long variant's worker trains: that worker must stop itself
    "worker",  # a worker, while it trains: the run records it failed and goes on
    "run",  # the run, at a moment anywhere in it: start-up, a variant, the comparisons, the page
)


def _moments():
    rng = random.Random(20261202)
    return [(TARGETS[i % len(TARGETS)], rng.random()) for i in range(KILLS)]


@pytest.mark.slow
@pytest.mark.parametrize("target,fraction", _moments(), ids=lambda x: str(x) if isinstance(x, str) else f"{x:.2f}")
def test_a_killed_run_resumes_without_losing_or_redoing_work(reference, target, fraction, tmp_path):
    scores_then, seconds = reference
    layout = Layout.make(tmp_path)
    run = layout.start()
    if target == "run":
        time.sleep(fraction * seconds)
        kill(run.pid)
        run.communicate()
        stopped = workers(layout.suite_dir) if layout.suite_dir.exists() else {}
        assert wait_gone(list(stopped.values())) == [], "a killed run's workers kept running"
    elif target == "run-in-training":
        folder, pid = running_worker(layout.suite_dir, "lora")
        time.sleep(fraction * 1.5)  # in its 120 steps (checkpointed every 20): a second or more of work left
        kill(run.pid)
        run.communicate()
        # Its worker notices within a poll (orphan.WATCH_SECONDS) and stops, writing nothing.
        assert wait_gone([pid], timeout=2) == [], "the killed run's worker kept training"
        assert not (folder / "record.json").exists()
    else:
        folder, pid = running_worker(layout.suite_dir)  # a variant in training or evaluation
        time.sleep(fraction * 0.5)
        kill(pid)
        out = run.communicate(timeout=300)[0].decode(errors="replace")
        # The run goes on without it and records it failed, saying how; or it had just finished.
        record = json.loads((folder / "record.json").read_text())
        assert run.returncode == (1 if record["status"] == "failed" else 0), out
        if record["status"] == "failed":
            assert "SIGKILL" in record["error"]
    before = finished(layout.suite_dir) if layout.suite_dir.exists() else {}
    code, out = layout.run()
    assert code == 0, out
    assert "  wait  " not in out, "a lock of the killed run held the rerun up"
    check_after_rerun(layout, before, scores_then)
    if REPORT:
        with open(REPORT, "a") as f:
            f.write(json.dumps({"target": target, "fraction": round(fraction, 3), "finished_before": len(before),
                                "resumed_after": resumed(layout.suite_dir)}) + "\n")
