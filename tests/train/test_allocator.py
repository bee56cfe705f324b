"""glibc's mmap threshold while training (harness/train/allocator.py), checked by what malloc
itself reports (mallinfo2: bytes in mapped blocks), in a fresh interpreter started with
subprocess so this process's allocator is left as it was:
- after glibc's own threshold has grown (a freed 8 MiB mapped block raises it to 8 MiB), a
  2 MiB tensor comes from the heap and stays there once freed: no mapped bytes;
- inside `allocator.training(cpu)`, a 4 MiB tensor is a mapped block of its own, unmapped
  when it is freed; inside `evaluating`, a 4 MiB one comes from the heap again (32 MiB), and after it, in
  training again, an 8 MiB one is mapped;
- HARNESS_MMAP_THRESHOLD=0 leaves glibc alone, and nothing happens for a GPU device.
And the training loop records what was set."""

from __future__ import annotations

import ctypes
import json
import platform
import subprocess
import sys

import pytest
from conftest import fit

from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                                reason="glibc 2.33 or later (mallopt, mallinfo2) only")

PROBE = r"""
import ctypes, json, os, torch
from harness.train import allocator

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info

def mapped_by_a_tensor(mib):
    before = libc.mallinfo2().hblkhd
    t = torch.empty(mib << 18, dtype=torch.float32)
    t.fill_(1.0)
    during = libc.mallinfo2().hblkhd - before
    del t
    return during, libc.mallinfo2().hblkhd - before

big = torch.empty(1 << 21, dtype=torch.float32)  # 8 MiB: mapped, and freeing it raises glibc's threshold
del big
out = {"default": mapped_by_a_tensor(2)}
with allocator.training(torch.device("cpu")) as held:
    out["held"] = held
    # Each larger than the heap's free space so far: malloc reuses free heap space before it
    # asks the system, and the threshold decides only how it asks (a mapping, or more heap).
    out["training"] = mapped_by_a_tensor(4)
    with allocator.evaluating(held):
        out["evaluating"] = mapped_by_a_tensor(4)  # more heap, freed into it: about 6 MiB free there now
    out["training again"] = mapped_by_a_tensor(8)
with allocator.training(torch.device("cuda")) as gpu:
    out["gpu"] = gpu
print(json.dumps(out))
"""


def _probe(**env) -> dict:
    import os

    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_training_maps_large_blocks_and_returns_them_when_freed():
    out = _probe(HARNESS_MMAP_THRESHOLD="")
    assert out["default"] == [0, 0]  # glibc's grown threshold: from the heap, nothing mapped
    during, after = out["training"]
    assert during >= 4 << 20 and after == 0  # mapped on its own, and gone when freed
    assert out["training again"][0] >= 8 << 20 and out["training again"][1] == 0
    assert out["evaluating"] == [0, 0]  # 32 MiB while evaluating: the heap again
    assert out["held"] == {"malloc": "glibc", "mmap_threshold": 1 << 20, "evaluation_mmap_threshold": 32 << 20}
    assert out["gpu"] is None


def test_zero_leaves_glibc_alone():
    out = _probe(HARNESS_MMAP_THRESHOLD="0")
    assert out["held"] is None and out["training"] == [0, 0]


def test_the_loop_records_what_it_set(monkeypatch):
    monkeypatch.setenv("HARNESS_MMAP_THRESHOLD", str(4 << 20))
    model, tokenizer = tiny_random_llama()
    lora = METHODS.load("lora")
    applied = lora.apply(model, lora.parse({"r": 4}), ApplyContext(steps=1))
    result = fit(applied, tokenizer, [("Name: Ada.", " Ada.")], TrainSpec(steps=1, batch_size=1, precision="fp32"))
    assert result.allocator == {"malloc": "glibc", "mmap_threshold": 4 << 20, "evaluation_mmap_threshold": 32 << 20}
