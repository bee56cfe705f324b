"""Live progress of running variants: each worker writes DIR/progress.json as it trains and
evaluates; the executor reads them for the display (harness/cli prints it).

A file rather than a pipe, so a variant on any executor (a child, a torchrun group, a Ray
task writing to a shared path) reports the same way, and a reader never blocks a worker.
Writes are atomic and at most one a second; the last step is always written.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from harness.records.store import write_text_atomic

log = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
WRITE_EVERY_SECONDS = 1.0


class Reporter:
    """progress(step, loss, tokens_per_second), as the training loop calls it."""

    def __init__(self, directory: Path, total_steps: int):
        self.path, self.total, self.last = directory / PROGRESS_FILE, total_steps, 0.0

    def __call__(self, step: int, loss: float, tokens_per_second: float) -> None:
        now = time.monotonic()
        if now - self.last < WRITE_EVERY_SECONDS and step < self.total:
            return
        self.last = now
        write_progress(self.path.parent, {"phase": "train", "step": step, "total": self.total,
                                          "loss": round(loss, 4), "tokens_per_second": round(tokens_per_second, 1)})


def write_progress(directory: Path, state: dict) -> None:
    try:
        write_text_atomic(directory / PROGRESS_FILE, json.dumps(state))
    except OSError as err:  # progress is a courtesy: never the reason a variant fails
        log.debug("progress not written to %s: %s", directory, err)


def read_progress(directory: Path) -> dict | None:
    try:
        return json.loads((directory / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class Running:
    """One running variant as the display shows it."""

    name: str
    slot: str
    seconds: float  # since it started
    state: dict | None  # its progress.json: phase, step, total, loss, tokens_per_second

    def line(self) -> str:
        s = self.state or {}
        if s.get("phase") == "train":
            what = f"step {s['step']}/{s['total']} loss {s['loss']:.4f} {s['tokens_per_second']:.0f} tok/s"
        elif s.get("phase"):
            what = s["phase"]
        else:
            what = "loading"
        return f"{self.name} [{self.slot}] {what} ({self.seconds:.0f}s)"

    def seconds_left(self, typical: float | None) -> float | None:
        """Its remaining time: from its own step rate while training (evaluation not counted),
        else what a finished variant typically took, less what it ran."""
        s = self.state or {}
        if s.get("phase") == "train" and s.get("step"):
            return self.seconds * (s["total"] - s["step"]) / s["step"]
        return max(typical - self.seconds, 0.0) if typical is not None else None


@dataclass
class Board:
    """What runs now, what waits, and what finished took: the executor yields one now and then."""

    running: list[Running]
    queued: int
    finished_seconds: list[float]
    slots: int

    def seconds_left(self) -> float | None:
        """Time until the suite ends: the running variants' remaining time plus the queued ones
        at the typical duration so far, spread over the slots. None before anything is known."""
        typical = sum(self.finished_seconds) / len(self.finished_seconds) if self.finished_seconds else None
        lefts = [r.seconds_left(typical) for r in self.running]
        if any(x is None for x in lefts) or (self.queued and typical is None):
            return None
        return (sum(x for x in lefts if x is not None) + self.queued * (typical or 0.0)) / max(self.slots, 1)
