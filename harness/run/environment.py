"""What a record says about where it ran: versions, git commit, device; and peak memory.

Peak memory on a CPU is the process's peak resident set (VmHWM), reset before the model
loads (Linux: writing 5 to /proc/self/clear_refs), so it covers the model, training and
evaluation plus the interpreter and libraries already loaded. On a GPU it is torch's peak
of allocated memory.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import harness

PACKAGES = ("torch", "transformers", "peft", "datasets", "rouge-score", "sacrebleu", "bitsandbytes", "lm-eval")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device, base_dir: Path) -> dict[str, Any]:
    import torch

    if device.type == "cuda":
        name = f"cuda: {torch.cuda.get_device_name(device)} x{torch.cuda.device_count()}"
    else:
        name = f"cpu: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    return {
        "python": platform.python_version(),
        "harness": harness.__version__,
        **package_versions(),
        "git_commit": git_commit(base_dir),
        "device": name,
        "platform": platform.platform(),
    }


def reset_peak_memory(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux: the peak then covers the whole process


def current_memory(device) -> int | None:
    """Memory held now, as peak_memory measures it: torch's allocations on a GPU, the resident
    set on a CPU (before the model loads, that is the interpreter and the libraries)."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_memory(device) -> tuple[int | None, str]:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "rss"
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "rss"
