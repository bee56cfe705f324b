"""glibc's malloc during training on a CPU: freed large blocks go back to the system at once.

On a CPU every tensor comes from the C library's malloc. glibc serves a block below its
mmap threshold from a heap, and keeps it there once freed, for reuse; the threshold starts
at 128 KiB and grows, up to 32 MiB, each time a larger mapped block is freed. A training
step allocates and frees hundreds of activation-sized temporaries (8 x 480 tokens by 1,536
is 24 MB), so within a few layers they all come from the heap, and the heap, fragmented
between the activations kept for backward, grows far past the tensors alive at any moment.
peft's LoRA is the worst case: each of its adapted layers frees three blocks of the
layer's output size in its forward. Measured on SmolLM2-135M, batch 8 at 480 tokens: the
process's peak resident set with LoRA was 12.7 GB against full fine-tuning's 9.5 GB,
although one forward keeps fewer tensors for backward with LoRA (benchmarks/
memory_vs_trainer.py, BENCHMARKS.md).

`training(device)` fixes the threshold at 1 MiB while a stage trains (mallopt
M_MMAP_THRESHOLD): every block of 1 MiB or more is mapped on its own and unmapped when
freed, so the peak is close to what is alive (LoRA above: 6.5 GB, full: 8.0 GB). Mapping
costs page faults: training was 19% to 34% slower in fp32 and about 12% under bf16 autocast
on two Zen 4 cores (the same benchmark; still as fast as transformers' Trainer or faster,
which keeps whole-vocabulary logits the harness does not). Generation suffers more (its
cache grows by a fresh block per token and layer), so evaluation, in a stage's validation
or after it, runs with the threshold at 32 MiB, where glibc's own adjustment ends.

HARNESS_MMAP_THRESHOLD=BYTES sets the training threshold; 0 leaves glibc's default alone.
Nothing changes on a GPU (its tensors are torch's caching allocator's, and the peak there is
torch's count), nor where the C library is not glibc. The record's stage info says what was
set (`allocator`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
TRAIN_THRESHOLD = 1 << 20
EVAL_THRESHOLD = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: where glibc's dynamic threshold stops
ENV = "HARNESS_MMAP_THRESHOLD"


@lru_cache(maxsize=1)
def _mallopt():
    """glibc's mallopt, or None where the C library is another."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def threshold() -> int:
    """The training threshold in bytes: HARNESS_MMAP_THRESHOLD, or 1 MiB; 0 means leave glibc alone."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return TRAIN_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        log.warning("%s=%r is not a byte count; using %d", ENV, raw, TRAIN_THRESHOLD)
        return TRAIN_THRESHOLD
    return value


def _set(size: int) -> bool:
    mallopt = _mallopt()
    return bool(mallopt is not None and mallopt(M_MMAP_THRESHOLD, size) == 1)


@contextmanager
def training(device) -> Iterator[dict | None]:
    """While a stage trains on a CPU: large freed blocks are returned at once. Yields what
    was set, for the record, or None where nothing was."""
    size = threshold()
    if getattr(device, "type", device) != "cpu" or not size or not _set(size):
        yield None
        return
    try:
        yield {"malloc": "glibc", "mmap_threshold": size, "evaluation_mmap_threshold": EVAL_THRESHOLD}
    finally:
        _set(EVAL_THRESHOLD)


@contextmanager
def evaluating(held: dict | None) -> Iterator[None]:
    """Inside `training`: evaluation (a validation's generations) at the evaluation threshold."""
    if held is None:
        yield
        return
    _set(EVAL_THRESHOLD)
    try:
        yield
    finally:
        _set(held["mmap_threshold"])
