"""Run variants one by one on this machine, each in a child process (harness.run.worker).

A child per variant gives each a clean peak-memory figure and keeps a crash (a segfault,
the out-of-memory killer) to that variant: the parent then writes the failed record
itself. Variants whose record already exists and is ok are skipped unless forced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from harness.records.schema import Record
from harness.records.store import Busy, existing_ok, locked, read_record, variant_dir, write_record
from harness.run.outcome import Outcome, new_record
from harness.suite.variant import Variant


def run(variants: list[Variant], results_dir: Path, force: bool = False) -> Iterator[Outcome]:
    """Yields a 'started' outcome before each variant it runs, then its final outcome."""
    for variant in variants:
        directory = variant_dir(results_dir, variant.suite, variant.id)
        done = None if force else existing_ok(directory)
        if done is not None:
            yield Outcome(variant, "skipped", done, directory=directory)
            continue
        try:
            with locked(directory):
                yield Outcome(variant, "started", directory=directory)
                start = time.perf_counter()
                record = _run_child(variant, directory)
                yield Outcome(variant, record.status, record, time.perf_counter() - start, directory)
        except Busy:
            yield Outcome(variant, "busy", directory=directory)


def _run_child(variant: Variant, directory: Path) -> Record:
    path = directory / "record.json"
    if path.exists():  # forced, or a failed record from before: replaced, never mixed in
        path.unlink()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    child = subprocess.run(
        [sys.executable, "-m", "harness.run.worker", str(directory)],
        input=variant.model_dump_json(), text=True, env=env,
    )
    if path.exists():
        return read_record(path)
    # The worker died before it could write anything: say how.
    if child.returncode < 0:
        sig = signal.Signals(-child.returncode).name
        why = f"worker killed by {sig}" + (" (out of memory?)" if sig == "SIGKILL" else "")
    else:
        why = f"worker exited with code {child.returncode} without writing a record"
    record = new_record(variant, error=why)
    write_record(directory, record)
    return record
