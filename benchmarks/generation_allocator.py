"""Generation time at glibc's default malloc and at a fixed mmap threshold: why the harness
evaluates at 32 MiB while it trains at 1 MiB (harness/train/allocator.py).

    MALLOC_MMAP_THRESHOLD_=1048576 python benchmarks/generation_allocator.py
    MALLOC_MMAP_THRESHOLD_=33554432 python benchmarks/generation_allocator.py
    python benchmarks/generation_allocator.py            # glibc's default

Greedy generation of 48 new tokens for the first 8 SciTLDR dev abstracts (left-padded to
the longest, at most 400 tokens) on SmolLM2-135M-Instruct in fp32; prints the seconds of
the generate call and the process's peak resident set. Run each setting in its own process,
alternating, more than once: the machine is shared.
"""

import json
import time
from pathlib import Path

import torch

from harness.models.smollm2 import load

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scitldr" / "dev.jsonl"

model, tokenizer = load()
rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines()[:8]]
tokenizer.padding_side = "left"
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
prompts = ["Abstract: " + " ".join(r["source"]) + "\nTL;DR:" for r in rows]
batch = tokenizer(prompts, return_tensors="pt", padding=True, truncation=True, max_length=400)
start = time.perf_counter()
with torch.no_grad():
    model.generate(**batch, max_new_tokens=48, min_new_tokens=48, do_sample=False)
seconds = time.perf_counter() - start
peak = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
print(f"batch {tuple(batch['input_ids'].shape)}: {seconds:.2f} s, peak {int(peak.split()[1]) / 1e6:.2f} GB")
