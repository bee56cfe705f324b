"""Where variants run on this machine: one slot per concurrent child process.

A slot is what a child is given through its environment: CUDA_VISIBLE_DEVICES (the GPU it
may see, as device 0; several slots may share one GPU) and HARNESS_THREADS (its share of
the CPU cores, which the worker hands to torch.set_num_threads). The GPUs are those the
parent may see: CUDA_VISIBLE_DEVICES when it is set, else every GPU `nvidia-smi -L` lists
(read without importing torch, so planning stays light).

Defaults: one slot per GPU; on a machine without one, a single slot with every core, as a
run one variant at a time always had. `--gpus 0,2` picks GPUs (also on a machine without
any, which tests use to stand in for several); `--jobs N` runs N children at once, spread
round-robin over the GPUs, or on a CPU machine each with cores // N threads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from harness.errors import HarnessError


@dataclass(frozen=True)
class Slot:
    name: str  # shown in progress lines and kept in the record: "cuda:1", "cpu", "cpu 2/3"
    env: dict[str, str] = field(default_factory=dict)  # set in the child's environment
    threads: int | None = None  # the child's torch threads; None: torch's default (every core)


def visible_gpus() -> list[str]:
    """The GPU ids this process may use (as CUDA_VISIBLE_DEVICES names them)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listed.stdout.splitlines()) if line.startswith("GPU ")]


def parse_gpus(text: str) -> list[str]:
    """--gpus "0,2" -> ["0", "2"]; HarnessError for anything else."""
    ids = [part.strip() for part in text.split(",")]
    if not ids or not all(part.isdigit() for part in ids) or len(set(ids)) != len(ids):
        raise HarnessError(f"--gpus {text!r}: give distinct GPU indices separated by commas, e.g. --gpus 0,2")
    return ids


def plan_slots(gpus: list[str] | None = None, jobs: int | None = None, cores: int | None = None) -> list[Slot]:
    """The slots of a run: see the module docstring for the defaults and overrides."""
    if jobs is not None and jobs < 1:
        raise HarnessError(f"--jobs {jobs}: run at least one variant at a time")
    devices = visible_gpus() if gpus is None else gpus
    if devices:
        count = jobs or len(devices)
        return [Slot(f"cuda:{devices[i % len(devices)]}", {"CUDA_VISIBLE_DEVICES": devices[i % len(devices)]})
                for i in range(count)]
    cores = cores or os.cpu_count() or 1
    if not jobs or jobs == 1:
        return [Slot("cpu")]
    threads = max(1, cores // jobs)
    return [Slot(f"cpu {i + 1}/{jobs}", {"HARNESS_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}, threads)
            for i in range(jobs)]
