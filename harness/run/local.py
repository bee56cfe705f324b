"""Run a suite's variants on this machine: a pool of slots (harness/run/slots.py), one child
process (harness.run.worker) per variant, the next variant started the moment a slot frees.

A child per variant gives each a clean peak-memory figure and keeps a crash (a segfault,
the out-of-memory killer, a SIGKILL) to that variant: the parent then writes its failed
record. Each child's output goes to <variant_dir>/log.txt (and, with a single slot, to the
terminal as well, so its progress bars show); a failed record carries the last lines of
that log. A variant running longer than `timeout` seconds is stopped (SIGTERM, then SIGKILL)
and recorded as failed, saying so. Variants whose record exists and is ok are skipped unless
forced; a variant another run holds (its lock) is reported busy and left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from harness.records.schema import Record
from harness.run.outcome import LOG, Outcome, claim, ended, now
from harness.run.slots import Slot, plan_slots
from harness.suite.variant import Variant

POLL_SECONDS = 0.2
TERM_GRACE_SECONDS = 10  # after SIGTERM, before SIGKILL


@dataclass
class _Child:
    variant: Variant
    directory: Path
    slot: Slot
    process: subprocess.Popen
    lock: contextlib.ExitStack
    log: IO[bytes]
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=now)
    tee: threading.Thread | None = None
    timed_out: bool = False


def run(variants: list[Variant], results_dir: Path, force: bool = False, slots: list[Slot] | None = None,
        timeout: float | None = None) -> Iterator[Outcome]:
    """Yields a 'started' outcome as each variant starts on a slot, then its final outcome."""
    slots = slots or plan_slots()
    free, queue = list(slots), deque(variants)
    running: list[_Child] = []
    try:
        while queue or running:
            while free and queue:
                variant = queue.popleft()
                claimed = claim(variant, results_dir, force)
                if isinstance(claimed, Outcome):
                    yield claimed
                    continue
                directory, lock = claimed
                slot = free.pop(0)
                running.append(_start(variant, directory, slot, lock, tee=len(slots) == 1))
                yield Outcome(variant, "started", directory=directory, slot=slot.name)
            if not running:
                continue
            time.sleep(POLL_SECONDS)
            for child in list(running):
                if timeout is not None and not child.timed_out and time.perf_counter() - child.started > timeout:
                    child.timed_out = True
                    _stop(child.process)
                if child.process.poll() is None:
                    continue
                running.remove(child)
                free.insert(0, child.slot)  # the freed slot takes the next variant
                record = _finish(child, timeout)
                yield Outcome(child.variant, record.status, record, time.perf_counter() - child.started, child.directory,
                              child.slot.name)
    finally:  # interrupted (Ctrl-C) or abandoned: no child outlives the run, no lock stays held
        for child in running:
            _stop(child.process)
            child.lock.close()
            child.log.close()


def _start(variant: Variant, directory: Path, slot: Slot, lock: contextlib.ExitStack, tee: bool) -> _Child:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HARNESS_SLOT=slot.name, **slot.env)
    log = open(directory / LOG, "wb")
    process = subprocess.Popen([sys.executable, "-m", "harness.run.worker", str(directory)], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE if tee else log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdin is not None
    process.stdin.write(variant.model_dump_json().encode())
    process.stdin.close()
    child = _Child(variant, directory, slot, process, lock, log)
    if tee:  # one variant at a time: its progress on the terminal too, as it happens
        child.tee = threading.Thread(target=_copy, args=(process.stdout, log), daemon=True)
        child.tee.start()
    return child


def _copy(source: IO[bytes], log: IO[bytes]) -> None:
    for chunk in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
        log.write(chunk)
        log.flush()
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the child's process group, SIGKILL if it is still there after the grace."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(TERM_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _finish(child: _Child, timeout: float | None) -> Record:
    """The child's record, or a failed one saying how it died (outcome.ended)."""
    if child.tee is not None:
        child.tee.join()
    child.log.close()
    try:
        code = None if child.timed_out else child.process.returncode
        return ended(child.variant, child.directory, code, timeout, child.slot.name, child.started_at)
    finally:
        child.lock.close()
