"""Records written by hand for leaderboard tests: every number chosen, so expectations are exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.records.schema import Record
from harness.records.store import write_jsonl_atomic, write_record

ENV = {"python": "3.11.7", "harness": "0.1.0", "torch": "2.13.0+cpu", "git_commit": "abc123", "device": "cpu: test"}


def score(value: float, lo: float | None = None, hi: float | None = None, n: int = 10, **extra: Any) -> dict[str, Any]:
    return {"value": value, "ci_low": value if lo is None else lo, "ci_high": value if hi is None else hi, "n": n, **extra}


def record(name: str, method: str, seed: int = 0, *, metrics: dict | None = None, model: str = "tiny",
           status: str = "ok", error: str | None = None, cost: dict | None = None, forgetting: dict | None = None,
           drift: dict | None = None, finished: str = "2026-01-01T00:00:00+00:00", train_curve: list | None = None,
           evals: list[dict] | None = None, variant_id: str | None = None, contamination: dict | None = None,
           suite: str = "demo", empty_predictions: dict | None = None) -> Record:
    """metrics: {eval: {metric: value or score dict}}."""
    scores = {ev: {m: (v if isinstance(v, dict) else score(v)) for m, v in ms.items()} for ev, ms in (metrics or {}).items()}
    evals = evals if evals is not None else [{"name": ev, "metrics": list(ms)} for ev, ms in (metrics or {}).items()]
    return Record.model_validate({
        "suite": suite, "variant_id": variant_id or f"{model}-{name}-s{seed}-" + "".join(ch for ch in finished[:19] if ch.isdigit()),
        "name": name, "model": model, "method": method, "params": {}, "seed": seed, "status": status, "error": error,
        "metrics": scores if status == "ok" else {},
        "cost": cost or ({"trainable_params": 0 if method == "baseline" else 100, "total_params": 1000,
                          "peak_memory_bytes": 1_000_000, "train_seconds": None if method == "baseline" else 2.0}),
        "train_curve": train_curve or ([] if method == "baseline" else [[1, 2.0], [2, 1.5]]),
        "forgetting": forgetting or {}, "drift": drift, "contamination": contamination or {}, "env": ENV,
        "empty_predictions": empty_predictions or {},
        "spec": {"evals": evals}, "started_at": finished, "finished_at": finished,
    })


def write(folder: Path, records: list[Record], predictions: dict[str, dict[str, list[dict]]] | None = None) -> Path:
    """Each record into folder/<variant_id>/, with predictions {variant_id: {eval: rows}}."""
    for r in records:
        directory = folder / r.variant_id
        write_record(directory, r)
        for ev, rows in (predictions or {}).get(r.variant_id, {}).items():
            write_jsonl_atomic(directory / "predictions" / f"{ev}.jsonl", rows)
    return folder
