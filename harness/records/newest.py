"""Which record speaks for a variant: the newest of each (model, name, seed).

A suite folder can hold several records of one variant: a suite edited after a run gives
the variant a new id, and the old record stays beside the new one (records are never
deleted). The newest by `finished_at` speaks for it, ties broken by variant id so the
choice is stable; the rest are stale. Comparisons, the leaderboard and the gate's
snapshots all choose through here.
"""

from __future__ import annotations

from pathlib import Path

from harness.records.schema import Record


def variant_key(record: Record) -> tuple[str, str, int]:
    """What makes two records the same variant: not the id, so a changed recipe still matches."""
    return record.model, record.name, record.seed


def recency(record: Record) -> tuple[str, str]:
    return record.finished_at or "", record.variant_id


def newest(found: list[tuple[Path, Record]]) -> tuple[list[tuple[Path, Record]], list[tuple[Path, Record]]]:
    """(the newest (path, record) of each variant, the stale ones), each in the order found."""
    best: dict[tuple[str, str, int], tuple[Path, Record]] = {}
    for path, record in found:
        key = variant_key(record)
        if key not in best or recency(record) > recency(best[key][1]):
            best[key] = (path, record)
    chosen = {id(pr[1]) for pr in best.values()}
    return ([pr for pr in found if id(pr[1]) in chosen], [pr for pr in found if id(pr[1]) not in chosen])
