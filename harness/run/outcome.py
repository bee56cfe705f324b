"""What every executor (local.py, ray_executor.py) does around a variant's worker, in one
place: claiming its folder (skipped when an ok record exists, busy when another run holds
its lock), the record it starts from, and the record once the worker ended, a failed one
saying how (killed, stopped by the timeout, exited without a record) and keeping the tail
of its log.txt; and the Outcome each executor yields to the caller.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from harness.errors import HarnessError
from harness.records.schema import Record
from harness.records.store import (
    Busy,
    existing_ok,
    inside,
    locked,
    read_record,
    sweep_temp_files,
    variant_dir,
    write_record,
)
from harness.suite.variant import Variant

LOG = "log.txt"  # what the variant's worker printed, in its folder
LOG_TAIL_LINES = 30  # of a failed variant's log, kept in its record
LOCK_POLL_SECONDS = 1.0  # how often a variant held by another run is tried again


@dataclass
class Outcome:
    variant: Variant
    state: Literal["started", "ok", "failed", "skipped", "busy", "waiting"]
    record: Record | None = None
    seconds: float = 0.0
    directory: Path | None = None
    slot: str | None = None  # where it ran (harness/run/slots.py): "cuda:1", "cpu 2/3"
    holder: str | None = None  # busy or waiting: who holds the variant (records/store.holder)
    tracked: list[Any] = field(default_factory=list)  # ran: what each tracker did with it (harness/track.Tracked)


def new_record(variant: Variant, **fields: Any) -> Record:
    """A record for this variant, failed until the worker says otherwise."""
    return Record(
        suite=variant.suite, variant_id=variant.id, name=variant.name, model=variant.model, method=variant.method,
        params=variant.params, seed=variant.seed, spec=variant.model_dump(mode="json", exclude={"base_dir"}),
        **{"status": "failed", **fields},
    )


def claim(variant: Variant, results_dir: Path, force: bool) -> tuple[Path, contextlib.ExitStack] | Outcome:
    """(the variant's folder, its lock now held; close it when the variant has ended), with any
    earlier record removed so a new one is never mixed with it; or the outcome that says why
    the variant does not run (skipped: an ok record exists; busy: another run holds it).
    Temp files a killed process left in the folder are removed: nobody else writes there now."""
    directory = variant_dir(results_dir, variant.suite, variant.id)
    if directory.is_symlink() or (directory.exists() and not inside(results_dir, directory)):
        raise HarnessError(f"{directory}: a link out of the results folder {results_dir}; a run writes only inside it "
                           "(remove the link, or give --results where the records should go)")
    done = None if force else existing_ok(directory)
    if done is not None:
        return Outcome(variant, "skipped", done, directory=directory)
    lock = contextlib.ExitStack()
    try:
        lock.enter_context(locked(directory))
    except Busy as busy:
        return Outcome(variant, "busy", directory=directory, holder=str(busy))
    (directory / "record.json").unlink(missing_ok=True)
    sweep_temp_files(directory)
    return directory, lock


@dataclass
class Held:
    """The variants another live run holds, for an executor: with wait, each is said once
    ('waiting', with who holds it) and handed back every LOCK_POLL_SECONDS to be claimed again
    (then skipped if that run finished it, run here if it did not); without, each is 'busy'."""

    wait: bool
    variants: list[Variant] = field(default_factory=list)
    told: set[str] = field(default_factory=set)
    tried_at: float = field(default_factory=time.perf_counter)

    def add(self, busy: Outcome) -> Outcome | None:
        """What to yield for a busy outcome of claim(); None when its wait was said already."""
        if not self.wait:
            return busy
        self.variants.append(busy.variant)
        if busy.variant.id in self.told:
            return None
        self.told.add(busy.variant.id)
        return Outcome(busy.variant, "waiting", directory=busy.directory, holder=busy.holder)

    def due(self) -> list[Variant]:
        """The held variants to claim again, in their order, once LOCK_POLL_SECONDS have passed."""
        if not self.variants or time.perf_counter() - self.tried_at < LOCK_POLL_SECONDS:
            return []
        self.tried_at = time.perf_counter()
        again, self.variants = self.variants, []
        return again

    def __len__(self) -> int:
        return len(self.variants)


def ended(variant: Variant, directory: Path, code: int | None, timeout: float | None, slot: str,
          started_at: str | None = None) -> Record:
    """The record once the worker ended: its own, else a failed one saying how it ended (code
    None: stopped by the timeout; negative: killed by that signal). A failed record keeps the
    tail of the log and the slot, and is written."""
    path = directory / "record.json"
    if path.exists():
        record = read_record(path)
    else:
        if code is None:
            error = f"timed out after {timeout:g} s (--timeout or the suite's timeout:); stopped"
        elif code < 0:
            name = signal.Signals(-code).name
            error = f"worker killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
        else:
            error = f"worker exited with code {code} without writing a record"
        record = new_record(variant, error=error, started_at=started_at, finished_at=now())
    if record.status != "ok":
        record.log_tail = log_tail(directory / LOG)
        record.env.setdefault("slot", slot)
        write_record(directory, record)
    return record


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str | None:
    """The last lines of a log, progress-bar redraws (carriage returns) reduced to their last state."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    kept = [line for line in kept if line.strip()]
    return "\n".join(kept[-lines:]) or None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
