"""The records the tracker tests log: two real records of a tiny run (tests/track/data/track.yaml
says how they were made), read as the run loop reads a finished variant's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from harness.records.schema import Record
from harness.records.store import read_record

DATA = Path(__file__).resolve().parent / "data"
SUITE = DATA / "track.yaml"


def fixture_record(name: str) -> Record:
    """'sft-dpo' (LoRA, a supervised stage with validation checks, then DPO) or 'baseline'."""
    return read_record(DATA / f"{name}.json")


def installed(package: str) -> bool:
    """Whether a tracker's package is here, asked without importing it (importing tensorboardX
    outside harness would import torch, which the tests that time themselves can do without)."""
    return importlib.util.find_spec(package) is not None
