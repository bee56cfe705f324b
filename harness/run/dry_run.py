"""`harness run --dry-run`: what a run would do, and nothing else. Per planned variant: its id,
whether it would run or be skipped and why (an ok record exists; a failed one is run
again), the GPUs and the memory the scheduler would pack it by (harness/run/memory.py).
Reads records; writes, locks and loads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.records.store import existing_ok, read_record, variant_dir
from harness.run import memory
from harness.suite.variant import Variant


@dataclass
class Planned:
    variant: Variant
    action: str  # "run" or "skip"
    why: str
    memory_bytes: int | None
    memory_source: str | None


def plan_run(variants: list[Variant], results_dir: Path, force: bool) -> list[Planned]:
    out = []
    for v in variants:
        directory = variant_dir(results_dir, v.suite, v.id)
        ok = existing_ok(directory)
        if ok is not None and not force:
            action, why = "skip", f"ok record of {ok.finished_at or 'an earlier run'}"
        elif ok is not None:
            action, why = "run", "--force: its ok record is replaced"
        elif (directory / "record.json").is_file():
            action, why = "run", _failed(directory)
        else:
            action, why = "run", "no record yet"
        estimate = memory.estimate(v)
        out.append(Planned(v, action, why, estimate.bytes if estimate else None, estimate.source if estimate else None))
    return out


def _failed(directory: Path) -> str:
    try:
        record = read_record(directory / "record.json")
    except (OSError, ValueError):
        return "its record cannot be read: computed again"
    return f"its record says {record.status}" + (f" ({record.error[:80]})" if record.error else "") + ": run again"


def describe(planned: list[Planned]) -> str:
    """One line per variant, then the counts."""
    lines = []
    for p in planned:
        size = (f"GPU memory {p.memory_bytes / 2**30:.2f} GiB ({p.memory_source})" if p.memory_bytes is not None
                else "GPU memory unknown")
        gpus = f"{p.variant.world_size} GPUs, " if p.variant.world_size > 1 else ""
        lines.append(f"{p.action:<5} {p.variant.label():<32} {p.variant.id:<28} {gpus}{size}; {p.why}")
    runs = sum(p.action == "run" for p in planned)
    lines.append(f"{runs} would run, {len(planned) - runs} would be skipped (dry run: nothing ran or was written)")
    return "\n".join(lines)


