"""A worker whose `harness run` is gone stops itself.

`harness run` holds each variant's lock while its worker runs. Killed outright (SIGKILL, the
out-of-memory killer, a lost terminal), it can neither stop its children nor keep the locks:
the kernel drops them, a rerun claims the variant again and starts a new worker in the same
folder, and the old one, still running, would write the same record and predictions. So the
executor tells each child the run's pid (RUN_PID), and the worker watches it: once the run is
gone (or a zombie waiting to be reaped), the worker kills its own process group (itself; or
torchrun and every rank) without writing anything. The rerun then starts the variant afresh,
or from its last checkpoint.

A worker started by hand (`python -m harness.run.worker DIR`) has no RUN_PID and no watch.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from harness.records.store import process_alive

log = logging.getLogger(__name__)

RUN_PID = "HARNESS_RUN_PID"
WATCH_SECONDS = 0.5


def watch() -> threading.Thread | None:
    """Start watching the run named by RUN_PID; the thread (a daemon), or None when unset."""
    pid = _run_pid()
    if pid is None:
        return None
    thread = threading.Thread(target=_watch, args=(pid,), name="harness-orphan-watch", daemon=True)
    thread.start()
    return thread


def stop_if_abandoned() -> None:
    """Stop now, as the watch would, if the run is gone: a worker whose run was killed often
    fails first on its output (a broken pipe), and must not record that as the variant's failure."""
    pid = _run_pid()
    if pid is not None and not process_alive(pid):
        _stop(pid)


def _run_pid() -> int | None:
    try:
        return int(os.environ.get(RUN_PID, ""))
    except ValueError:
        return None


def _watch(pid: int) -> None:
    event = threading.Event()
    while process_alive(pid):
        event.wait(WATCH_SECONDS)
    _stop(pid)


def _stop(pid: int) -> None:
    log.warning("the harness run that started this worker (pid %d) is gone; stopping without a record", pid)
    os.killpg(os.getpgrp(), signal.SIGKILL)
