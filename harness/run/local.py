"""Run a suite's variants on this machine: a pool of slots (harness/run/slots.py), one child
process (harness.run.worker, or torchrun and its ranks: harness/run/launch.py) per variant,
the next variant started the moment its GPUs (and their memory) or a CPU slot free up.

On a CPU machine the children are forked from a fork server (harness/run/forkserver.py)
that imported torch and the worker once, so a variant does not pay the imports again.
A child per variant gives each a clean peak-memory figure and keeps a crash (a segfault,
the out-of-memory killer, a SIGKILL) to that variant: the parent then writes its failed
record. Each child's output goes to <variant_dir>/log.txt (and, with a single slot, to the
terminal as well, so its progress bars show); a failed record carries the last lines of
that log. A variant running longer than `timeout` seconds is stopped (SIGTERM, then SIGKILL)
and recorded as failed, saying so. Every BOARD_SECONDS the run yields a Board (what runs,
at which step, what waits) for the display. Variants whose record exists and is ok are skipped unless
forced. A variant another live run holds (its lock) is waited for, said once with who holds
it, and then skipped if that run finished it or run here if it did not; with wait=False it is
reported busy and left alone. Children are told the run's pid (HARNESS_RUN_PID): one whose
run was killed stops itself (harness/run/orphan.py) rather than race the rerun.
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
from harness.run import forkserver, memory, orphan
from harness.run.launch import worker_command
from harness.run.outcome import LOG, Held, Outcome, claim, ended, now
from harness.run.progress import Board, Running, read_progress
from harness.run.slots import CpuPool, GpuPool, Slot, plan_pool
from harness.suite.variant import Variant

POLL_SECONDS = 0.2
BOARD_SECONDS = 2.0
TERM_GRACE_SECONDS = 10  # after SIGTERM, before SIGKILL


@dataclass
class _Child:
    variant: Variant
    directory: Path
    slot: Slot
    process: subprocess.Popen | forkserver.Forked
    lock: contextlib.ExitStack
    log: IO[bytes]
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=now)
    tee: threading.Thread | None = None
    timed_out: bool = False


def run(variants: list[Variant], results_dir: Path, force: bool = False, pool: GpuPool | CpuPool | None = None,
        timeout: float | None = None, wait: bool = True) -> Iterator[Outcome | Board]:
    """Yields a 'started' outcome as each variant starts, its final outcome as it ends, a
    'waiting' one when another run holds a variant (wait) or a 'busy' one (not wait), and a
    Board every BOARD_SECONDS while any runs."""
    pool = pool or plan_pool()
    tee = pool.alone
    queue: deque[Variant] = deque(variants)
    held = Held(wait)
    needs = {v.id: memory.estimate(v) for v in variants} if isinstance(pool, GpuPool) else {}
    running: list[_Child] = []
    finished: list[float] = []
    board_at = time.perf_counter()
    # On a CPU machine children are forked from one process that imported everything once.
    server = forkserver.ForkServer() if isinstance(pool, CpuPool) and forkserver.enabled() else None
    try:
        while queue or running or held:
            queue.extendleft(reversed(held.due()))  # they came first: they go first once free
            while queue:  # in order: the next variant waits for room rather than being overtaken
                variant = queue[0]
                need = needs.get(variant.id)
                slot = pool.place(need.bytes if need else None, variant.world_size)
                if slot is None:
                    break
                queue.popleft()
                claimed = claim(variant, results_dir, force)
                if isinstance(claimed, Outcome):
                    pool.release(slot)
                    said = held.add(claimed) if claimed.state == "busy" else claimed
                    if said is not None:
                        yield said
                    continue
                directory, lock = claimed
                running.append(_start(variant, directory, slot, lock, tee=tee, server=server))
                yield Outcome(variant, "started", directory=directory, slot=slot.name)
            if not running:
                if held:
                    time.sleep(POLL_SECONDS)
                continue
            time.sleep(POLL_SECONDS)
            for child in list(running):
                if timeout is not None and not child.timed_out and time.perf_counter() - child.started > timeout:
                    child.timed_out = True
                    stop(child.process)
                if child.process.poll() is None:
                    continue
                running.remove(child)
                pool.release(child.slot)
                record = _finish(child, timeout)
                finished.append(time.perf_counter() - child.started)
                yield Outcome(child.variant, record.status, record, finished[-1], child.directory, child.slot.name)
            if running and time.perf_counter() - board_at >= BOARD_SECONDS:
                board_at = time.perf_counter()
                yield Board([Running(c.variant.name, c.slot.name, time.perf_counter() - c.started, read_progress(c.directory))
                             for c in running], len(queue) + len(held), list(finished), max(len(running), 1))
    finally:  # interrupted (Ctrl-C) or abandoned: no child outlives the run, no lock stays held
        for child in running:
            stop(child.process)
            child.lock.close()
            child.log.close()
        if server is not None:
            server.close()


def _start(variant: Variant, directory: Path, slot: Slot, lock: contextlib.ExitStack, tee: bool,
           server: forkserver.ForkServer | None = None) -> _Child:
    ours = {"HARNESS_SLOT": slot.name, orphan.RUN_PID: str(os.getpid()), **slot.env}
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", **ours)
    log = open(directory / LOG, "wb")
    command = worker_command(variant, directory)
    process: subprocess.Popen | forkserver.Forked | None = None
    if server is not None and variant.world_size == 1:
        process = _fork(server, directory, ours, log, tee)
    if process is None:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if tee else log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    child = _Child(variant, directory, slot, process, lock, log)
    if tee:  # one variant at a time: its progress on the terminal too, as it happens
        child.tee = threading.Thread(target=_copy, args=(process.stdout, log), daemon=True)
        child.tee.start()
    return child


def _fork(server: forkserver.ForkServer, directory: Path, env: dict[str, str], log: IO[bytes],
          tee: bool) -> forkserver.Forked | None:
    """The worker forked by the server, its output to the log (or, to show it as well, to a
    pipe); None, said once in the log, if the server cannot fork."""
    read, write = os.pipe() if tee else (None, None)
    try:
        return server.spawn(directory, env, log.fileno() if write is None else write,
                            stdout=os.fdopen(read, "rb") if read is not None else None)
    except (OSError, RuntimeError) as err:
        if read is not None:
            os.close(read)
        log.write(f"fork server unavailable ({err}); starting the worker as a new process\n".encode())
        log.flush()
        return None
    finally:
        if write is not None:
            os.close(write)


def _copy(source: IO[bytes], log: IO[bytes]) -> None:
    for chunk in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
        log.write(chunk)
        log.flush()
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()


def stop(process: subprocess.Popen | forkserver.Forked) -> None:
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
