"""`harness ls results`: what a results folder holds, suite by suite and variant by variant,
with each variant's status and age. Reads the folders only: takes no lock, writes nothing,
so it is safe while a run is going.

A variant folder with a record is ok or failed (or stale: an older record of a variant a
newer one replaced, records/newest.py); without one it is running (its lock's holder is a
live process of this machine) or unfinished (a run stopped before writing it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.records.newest import newest
from harness.records.store import HOLDER, SUITE_COPY, live_holder, readable_records


@dataclass
class Listed:
    name: str | None  # None: a folder without a record says no name
    variant_id: str
    status: str  # ok | failed | stale | running | unfinished
    method: str | None = None
    seed: int | None = None
    model: str | None = None
    finished_at: str | None = None
    age_seconds: float | None = None  # since finished_at (running: since the run took it)
    error: str | None = None


@dataclass
class ListedSuite:
    suite: str
    folder: str
    variants: list[Listed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.variants:
            out[v.status] = out.get(v.status, 0) + 1
        return out


def list_results(results: Path, now: datetime | None = None) -> list[ListedSuite]:
    """Every suite folder under `results` (or `results` itself, if it is one): a folder holding
    variant folders, with or without records yet."""
    results, now = Path(results), now or datetime.now(timezone.utc)
    folders = [results] if _is_suite(results) else sorted(p for p in results.iterdir() if p.is_dir() and _is_suite(p))
    return [_suite(folder, now) for folder in folders]


def _is_suite(folder: Path) -> bool:
    return (folder / SUITE_COPY).is_file() or any(folder.glob("*/record.json"))


def _suite(folder: Path, now: datetime) -> ListedSuite:
    listed = ListedSuite(suite=folder.name, folder=str(folder))
    found = readable_records(folder, listed.notes)
    current, stale = newest(found)
    stale_ids = {id(r) for _p, r in stale}
    with_record = set()
    for path, record in found:
        with_record.add(path.parent.name)
        listed.suite = record.suite
        status = "stale" if id(record) in stale_ids else record.status
        listed.variants.append(Listed(record.name, record.variant_id, status, record.method, record.seed, record.model,
                                      record.finished_at, _age(record.finished_at, now),
                                      _first_line(record.error)))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name in with_record or not _is_variant_folder(sub):
            continue
        since = _holder_since(sub)
        listed.variants.append(Listed(None, sub.name, "running" if since is not None else "unfinished",
                                      age_seconds=_age(since, now) if since else None))
    listed.variants.sort(key=lambda v: (v.name is None, v.name or "", v.seed or 0, v.finished_at or ""))
    return listed


def _first_line(error: str | None) -> str | None:
    lines = (error or "").strip().splitlines()
    return lines[0][:200] if lines else None


def _is_variant_folder(sub: Path) -> bool:
    return (sub / "variant.json").is_file() or (sub / HOLDER).is_file() or (sub / "log.txt").is_file()


def _holder_since(sub: Path) -> str | None:
    """When the live process of this machine holding the variant took it, else None."""
    who = live_holder(sub)
    try:  # "since" is local time as the holder wrote it
        return datetime.strptime(str(who["since"]), "%Y-%m-%d %H:%M:%S").astimezone(timezone.utc).isoformat() if who else None
    except ValueError:
        return datetime.now(timezone.utc).isoformat()  # alive, when unknown


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (now - when).total_seconds())


def age_text(seconds: float | None) -> str:
    """'40 s', '12 min', '3 h', '5 d' ago."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def as_json(suites: list[ListedSuite]) -> list[dict]:
    return [{**asdict(s), "counts": s.counts()} for s in suites]
