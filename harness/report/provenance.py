"""Where a table's numbers come from: dates, harness and package versions, git commits,
hardware, gathered from the records' `env`; a key whose value differs between runs lists
each value with the runs that had it, so a mixed-up comparison shows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import harness
from harness.report.table import Table

# The env keys shown first, in this order; the packages follow.
ORDER = ("harness", "git_commit", "device", "platform", "python")


def provenance(table: Table) -> dict[str, Any]:
    runs = [(row, run) for row in table.rows for run in row.runs]
    values: dict[str, dict[str, list[str]]] = {}
    for row, run in runs:
        label = row.name if len(row.runs) == 1 else f"{row.name} (seed {run.seed})"
        for key, value in (run.env or {}).items():
            values.setdefault(key, {}).setdefault("–" if value is None else str(value), []).append(label)
    keys = [k for k in ORDER if k in values] + sorted(k for k in values if k not in ORDER)
    started = [run.started_at for _, run in runs if run.started_at]
    finished = [run.finished_at for _, run in runs if run.finished_at]
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "generated_by": harness.__version__,
        "suite_dir": table.suite_dir,
        "first_started": min(started) if started else None,
        "last_finished": max(finished) if finished else None,
        "env": [{"key": k, "values": [{"value": v, "runs": r} for v, r in values[k].items()]} for k in keys],
        "runs": len(runs),
    }
