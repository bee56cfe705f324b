"""TensorBoard: one variant's run as event files, written with tensorboardX (which needs
neither TensorFlow nor torch).

Where: RESULTS/tensorboard/SUITE/VARIANT_ID/ (VARIANT_ID is NAME-HASH), so `tensorboard
--logdir RESULTS/tensorboard` shows every suite, each variant a run named SUITE/VARIANT_ID.
The folder is the variant's: its old event files are removed before it is written again (a
--force rerun), so it always holds one run, the newest record's.

What: each curve as scalars at its steps; each final (scores with their intervals, costs) as
one scalar at step 0; the params as the run's hparams (the HParams dashboard), with the eval
scores as its metrics. Walltimes are the record's finished_at, so the files say when the
variant ran rather than when it was logged.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.track.content import RunContent

SUBFOLDER = "tensorboard"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a suite name or variant id: one folder name, no way up
EVENTS = "events.out.tfevents.*"  # the files a SummaryWriter writes


def folder(content: RunContent, results_dir: Path) -> Path:
    for part in (content.suite, content.variant_id):
        if not _SAFE.match(part):
            raise ValueError(f"{part!r} cannot name a folder (letters, digits, '.', '_' and '-' only)")
    return results_dir / SUBFOLDER / content.suite / content.variant_id


def write(content: RunContent, results_dir: Path) -> str:
    tensorboardx = _import_tensorboardx()
    where = folder(content, results_dir)
    where.mkdir(parents=True, exist_ok=True)
    for old in where.glob(EVENTS):
        old.unlink()
    walltime = content.finished or time.time()
    # Everything is flushed on close; until then nothing needs to reach the disk.
    writer = tensorboardx.SummaryWriter(logdir=str(where), flush_secs=3600, max_queue=100_000)
    try:
        for tag, points in content.curves.items():
            for step, value in points:
                writer.add_scalar(tag, value, step, walltime=walltime)
        for tag, value in content.finals.items():
            writer.add_scalar(tag, value, 0, walltime=walltime)
        # The hparams session is this run's own folder (SummaryWriter.add_hparams would open a
        # subfolder, a second run): its metrics are the score scalars just written here.
        hparams = importlib.import_module("tensorboardX.summary").hparams
        for summary in hparams(dict(content.params), content.scores()):
            writer.file_writer.add_summary(summary, walltime=walltime)
    finally:
        writer.close()
    return str(where)


def _import_tensorboardx() -> Any:
    """tensorboardX, imported without torch: its writer imports torch when it can (to accept
    tensors, which we never pass), and the process that logs runs must stay torch-free (a
    worker that already has torch keeps it)."""
    if "tensorboardX" in sys.modules:
        return sys.modules["tensorboardX"]
    with _torch_refused():
        return importlib.import_module("tensorboardX")


@contextlib.contextmanager
def _torch_refused() -> Iterator[None]:
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # Python's own marker: `import torch` raises ImportError
    try:
        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]
