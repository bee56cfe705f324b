"""What running a variant gives: an Outcome for the executor's caller, and the record a
variant starts from (failed until the worker says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.records.schema import Record
from harness.suite.variant import Variant


@dataclass
class Outcome:
    variant: Variant
    state: Literal["started", "ok", "failed", "skipped", "busy"]
    record: Record | None = None
    seconds: float = 0.0
    directory: Path | None = None
    slot: str | None = None  # where it ran (harness/run/slots.py): "cuda:1", "cpu 2/3"


def new_record(variant: Variant, **fields: Any) -> Record:
    """A record for this variant, failed until the worker says otherwise."""
    return Record(
        suite=variant.suite, variant_id=variant.id, name=variant.name, model=variant.model, method=variant.method,
        params=variant.params, seed=variant.seed, spec=variant.model_dump(mode="json", exclude={"base_dir"}),
        **{"status": "failed", **fields},
    )
