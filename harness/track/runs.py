"""Logging one finished variant to the experiment trackers: `log_variant(names, record,
results_dir)`, one tracker run per call and per tracker.

It reads the record alone (harness/track/content.py says what is logged), after the worker
wrote it, so it works the same for the local and the Ray executor and for a rerun, and a
tracker can never cost a variant its record: a tracker that fails (its package missing, a
folder it cannot write, a server it cannot reach) is logged as a warning and said in the
result; the run goes on. An unknown tracker name is the caller's mistake: HarnessError.

When to call is the caller's choice: once for each variant that ran (ok or failed), never
for one skipped because its ok record exists, so a rerun does not log it twice; a --force
rerun runs it again and logs a new run. TensorBoard's folder for a variant is replaced on
each call (a variant id has one run there, the last); MLflow and W&B start a new run each
call.

Each tracker's writer is a module beside this one, `write(content, results_dir) -> str`
(where it wrote, in words), imported only when its tracker is used; harness/track/trackers.py
lists them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.records.schema import Record
from harness.track.content import describe, label
from harness.track.trackers import INSTALL_ALL, Tracker, chosen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracked:
    """What one tracker did with one variant: where it wrote, or why it did not."""

    tracker: str
    variant_id: str
    where: str | None = None  # a folder, or a tracking URI and run
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def log_variant(names: Sequence[str], record: Record, results_dir: str | Path) -> list[Tracked]:
    """Log one variant's record to each tracker named (each once), writing under the run's
    results folder by default (see harness/track/trackers.py for where each one writes).
    Returns what each did; never raises for a tracker's failure (HarnessError for a name that
    is no tracker)."""
    trackers = chosen(list(names))
    if not trackers:
        return []
    try:
        content = describe(record)
    except Exception as err:  # noqa: BLE001  a record that cannot be described is not worth the run
        return [_failed(t, record, f"{type(err).__name__}: {err}") for t in trackers]
    out = []
    for tracker in trackers:
        try:
            module, _, function = tracker.writer.partition(":")
            write = getattr(importlib.import_module(module), function)
            out.append(Tracked(tracker.name, record.variant_id, where=write(content, Path(results_dir))))
        except ImportError as err:
            out.append(_failed(tracker, record, f"{err}; install it: {INSTALL_ALL} or pip install {tracker.package}"))
        except Exception as err:  # noqa: BLE001  whatever the tracker's library raises, the run goes on
            out.append(_failed(tracker, record, f"{type(err).__name__}: {err}"))
    return out


def _failed(tracker: Tracker, record: Record, error: str) -> Tracked:
    log.warning("%s: not logged to %s: %s", label(record), tracker.name, error)
    return Tracked(tracker.name, record.variant_id, error=error)
