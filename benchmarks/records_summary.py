"""Print where each variant of a results folder ran and what it cost: device, slot, dtypes,
world size, peak memory beside the estimate, start and end, and which variants overlapped
in time. benchmarks/gpu_check.sh calls it after each run.

    python benchmarks/records_summary.py RESULTS/SUITE
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from harness.records.store import read_record


def main() -> None:
    folder = Path(sys.argv[1])
    records = sorted((read_record(p) for p in folder.glob("*/record.json")), key=lambda r: r.started_at or "")
    if not records:
        sys.exit(f"no records in {folder}")
    t0 = min(datetime.fromisoformat(r.started_at) for r in records if r.started_at)
    span = {}
    for r in records:
        c = r.cost
        start = (datetime.fromisoformat(r.started_at) - t0).total_seconds() if r.started_at else float("nan")
        end = (datetime.fromisoformat(r.finished_at) - t0).total_seconds() if r.finished_at else float("nan")
        span[r.name] = (start, end)
        peak = f"{c.peak_memory_bytes / 2**30:.2f} GiB ({c.peak_memory_source})" if c.peak_memory_bytes else "-"
        estimate = f"{c.memory_estimate_bytes / 2**30:.2f} GiB" if c.memory_estimate_bytes else "-"
        # the estimate is of GPU memory: a CPU's resident set (whole process) is no match for it
        under = "" if not (c.peak_memory_source == "cuda" and c.memory_estimate_bytes) else \
            (" under" if c.peak_memory_bytes <= c.memory_estimate_bytes else " OVER") + " its estimate"
        print(f"{r.name:<14} {r.status:<6} {r.env.get('device', '?'):<8} slot {r.env.get('slot')}  "
              f"world {r.parallel.get('world_size', 1)} {r.parallel.get('strategy') or ''}  dtypes {r.dtypes}")
        print(f"{'':<14} peak {peak}, estimate {estimate}{under}; ran {start:.1f}..{end:.1f} s"
              + (f"; {c.tokens_per_second:,.0f} train tok/s" if c.tokens_per_second else "")
              + (f"; error: {r.error}" if r.error else ""))
    names = list(span)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if span[a][0] < span[b][1] and span[b][0] < span[a][1]]
    print(f"overlapping in time: {len(pairs)} pair(s)" + (": " + ", ".join(f"{a}+{b}" for a, b in pairs) if pairs else ""))


if __name__ == "__main__":
    main()
