"""SIGTERM handled like Ctrl-C by `harness run`: a batch scheduler, `kill` or a container
stop sends SIGTERM, and the run should end as it does on Ctrl-C (children stopped, their
locks freed, finished records kept, a line saying how to resume) but say it was terminated
and exit 143 (128 + 15, the shell's convention), not 130.

The handler raises Terminated, a KeyboardInterrupt, in the main thread, so every cleanup
written for Ctrl-C (the executors' finally blocks) runs for it too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived."""


def _raise(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
