"""The command that runs one variant's worker, the same for every executor.

The variant goes to DIR/variant.json (so `python -m harness.run.worker DIR` reruns it by
hand), and the command is the worker itself, or, for a variant asking for several GPUs
(resources.gpus), torchrun starting that many copies of it: one rank per GPU, on a
rendezvous of its own on this machine (--standalone), so several such variants can run at
once. On a machine without GPUs the ranks are CPU processes talking over gloo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.records.store import write_text_atomic
from harness.suite.variant import Variant

VARIANT_FILE = "variant.json"


def worker_command(variant: Variant, directory: Path) -> list[str]:
    """Write the variant beside its record; the argv that runs it."""
    write_text_atomic(directory / VARIANT_FILE, variant.model_dump_json(indent=2))
    worker = ["-m", "harness.run.worker", str(directory)]
    if variant.world_size == 1:
        return [sys.executable, *worker]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={variant.world_size}", *worker]
