"""SIGTERM and SIGINT (Ctrl-C) stop `harness run` cleanly: its workers are stopped, the
records finished so far are kept, it says how to resume, and it exits 143 or 130. The run
after the SIGTERM resumes (what finished is kept); that a rerun then finishes the suite with
an uninterrupted run's scores is test_kill_runs.py's.

How it starts what it needs: a real `python -m harness.cli run` process (runs.py), sent a
real SIGTERM, then (on the rerun) a real SIGINT with os.kill while a worker trains.
"""

from __future__ import annotations

import signal

import pytest
from runs import Layout, finished, parse_all, running_worker, temp_files, wait_gone


@pytest.mark.slow
def test_sigterm_then_sigint_stop_the_run_and_keep_its_records(tmp_path):
    layout = Layout.make(tmp_path)
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        run = layout.start()
        folder, pid = running_worker(layout.suite_dir, "lora")
        kept = finished(layout.suite_dir)
        run.send_signal(sig)
        out = run.communicate(timeout=120)[0].decode()
        assert run.returncode == code, out
        name = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
        assert f"stopped ({name})" in out and "to resume, run again: harness run " in out, out
        assert wait_gone([pid], timeout=1) == [], "the run exited with its worker still running"
        assert not (folder / "record.json").exists()  # stopped, not failed: the rerun computes it
        assert set(finished(layout.suite_dir)) >= set(kept)  # nothing finished was lost
        parse_all(layout)
        assert temp_files(layout) == []
