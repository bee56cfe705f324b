"""Peak memory of training: the harness's loop (harness/train/loop.py), with and without
gradient checkpointing, against transformers' Trainer with peft, each measurement in a
fresh process of its own.

    python benchmarks/memory_vs_trainer.py                    # LoRA and full, 128 and 480 tokens
    python benchmarks/memory_vs_trainer.py --methods lora --lengths 480 --sides harness,trainer
    python benchmarks/memory_vs_trainer.py --quick            # smoke run on the tiny model, < 1 min

Machine: a Linux CPU (the peak is the process's resident set, from /proc). The figures in
BENCHMARKS.md are from 2 cores of an AMD EPYC (Zen 4) with 23 GB, about 16 minutes for the
default run. On a GPU the harness's records measure torch's allocations instead, which this
script does not.

What is compared, per configuration (method by sequence length), by side:
- harness: the loop as the worker runs it, the method applied through the harness's own
  registration (LoRA r 16, alpha 16, no dropout, every linear layer but the head: the
  harness's lora with `r: 16`; full: every weight trains);
- harness-gc: the same with `gradient_checkpointing: true`;
- harness-glibc: the loop with glibc's malloc left as it is (HARNESS_MMAP_THRESHOLD=0): the
  harness sets glibc's mmap threshold to 1 MiB while it trains (harness/train/allocator.py),
  and this side shows what that setting changes;
- trainer: transformers' Trainer on the model wrapped by peft's get_peft_model with the same
  LoraConfig (full: the plain model), loss the model's own;
- trainer-gc: the Trainer with its own activation checkpointing (non-reentrant, as the
  harness's);
- trainer-mmap: the Trainer in a process started with MALLOC_MMAP_THRESHOLD_=1048576, the
  harness's setting for the whole process: what the peer would hold with the same allocator,
  so what is left of the gap is the loops' own.

Why it is fair: every side starts a fresh interpreter (`--child`), so each peak is its own
and no allocator reserve carries over; it imports what it uses, resets the kernel's peak
resident set (VmHWM, through /proc/self/clear_refs, as harness/run/environment.py does)
right before the model loads, and reads it once training ends. Every side loads the same
SmolLM2-135M-Instruct in fp32 and trains in fp32 (no autocast on either side), with the
same AdamW (torch's, rate 2e-4 for LoRA and 2e-5 for full: the harness's defaults; no
weight decay, linear decay, clipping at 1.0), the same LoRA initialisation (the same seed
before peft wraps the model) and the same batches: real SciTLDR dev rows (the abstract as
the prompt, through the chat template, the first TL;DR as the completion), each abstract cut
to its longest run of leading sentences that keeps the example within the length, the
longest 8 x steps of them (so every batch is close to the length: the peak a long run
reaches at its widest batches), drawn into batches once by the harness's sampler and
handed to the Trainer in that order with the harness's collate function (loss on the TL;DR
tokens only on both sides). The loss at every step is printed per side: the same work
gives the same numbers, and the harness's curve with checkpointing must equal its curve
without (asserted to 1e-4).

What a CPU peak includes: the interpreter and the libraries (torch, transformers, peft:
the "before load" column), the weights, the gradients, the optimizer's state, activations,
the loss's logits and the allocator's reserve. That reserve can be large: glibc's malloc
serves blocks under its mmap threshold (which grows up to 32 MB as large blocks are freed)
from heaps it does not give back while anything above them is in use, so the many
temporaries of a step (an activation of 8 x 480 tokens by 1,536 is 24 MB) stay resident after
they are freed. With the threshold fixed at 1 MiB (the harness while it trains, and the
trainer-mmap side), each block of 1 MiB or more is mapped and unmapped on its own, and the
peak comes close to the tensors actually alive, for page faults' time.
Ratios against the Trainer are the figures to quote; this machine is shared, so absolute
bytes are secondary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scitldr" / "dev.jsonl"
SEED = 0
# LoRA as the harness's lora method with r 16 (harness/methods/lora.py: alpha 16, dropout 0,
# every linear layer but the output head), set explicitly on both sides.
LORA = {"r": 16, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}
RATE = {"lora": 2.0e-4, "full": 2.0e-5}  # the harness's defaults for each method
SIDES = ("harness", "harness-gc", "harness-glibc", "trainer", "trainer-gc", "trainer-mmap")
THRESHOLD = 1 << 20  # harness/train/allocator.py's TRAIN_THRESHOLD, for trainer-mmap
GB, MB = 1e9, 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per side (the optimizer state exists from the first)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lengths", default="128,480", help="tokens per example at most, comma-separated")
    ap.add_argument("--methods", default="lora,full")
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--threshold", type=int, metavar="BYTES",
                    help="the harness sides train at this mmap threshold (HARNESS_MMAP_THRESHOLD) instead of 1 MiB")
    ap.add_argument("--quick", action="store_true", help="the tiny random Llama (byte tokens), LoRA, 2 steps, 256 tokens: a smoke run")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, as JSON: run by this script
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.quick:  # four processes: about 40 s on two idle cores
        args.steps = min(args.steps, 2)
        args.methods = "lora" if args.methods == ap.get_default("methods") else args.methods
        args.lengths = "256" if args.lengths == ap.get_default("lengths") else args.lengths
    sides = args.sides.split(",")
    if unknown := set(sides) - set(SIDES):
        ap.error(f"unknown sides {sorted(unknown)}; choose from {', '.join(SIDES)}")
    configurations = [(m, int(n)) for m in args.methods.split(",") for n in args.lengths.split(",")]
    results: dict[tuple[str, int], dict[str, dict]] = {}
    for method, length in configurations:
        for side in sides:
            spec = {"side": side, "method": method, "length": length, "steps": args.steps, "batch": args.batch,
                    "threshold": args.threshold,
                    "quick": args.quick}
            results.setdefault((method, length), {})[side] = measure(spec)
    report(results, args)


def measure(spec: dict) -> dict:
    """One side in a fresh interpreter: its result, read from the line it prints last."""
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "HARNESS_MMAP_THRESHOLD")}
    if spec["side"] == "harness-glibc":
        env["HARNESS_MMAP_THRESHOLD"] = "0"
    elif spec["side"].startswith("harness") and spec.get("threshold"):
        env["HARNESS_MMAP_THRESHOLD"] = str(spec["threshold"])
    if spec["side"] == "trainer-mmap":
        env["MALLOC_MMAP_THRESHOLD_"] = str(THRESHOLD)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{spec} failed (exit {done.returncode})")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["process_seconds"] = time.perf_counter() - start
    print(f"{spec['method']} {spec['length']} {spec['side']:13s} peak {result['peak'] / GB:.3f} GB, before load "
          f"{result['before'] / GB:.3f} GB, train {result['seconds']:.1f} s (process {result['process_seconds']:.1f} s), "
          f"batch widths {result['widths']}, losses {' '.join(f'{x:.6f}' for x in result['losses'])}",
          file=sys.stderr, flush=True)
    return result


def report(results: dict[tuple[str, int], dict[str, dict]], args) -> None:
    """The losses side by side (the same work), then the table."""
    print(f"\n{'tiny random Llama' if args.quick else 'SmolLM2-135M-Instruct'}, fp32, batch {args.batch}, "
          f"{args.steps} steps, SciTLDR dev; each side in a fresh process\n")
    print("Loss per step (the same batches and loss on every side):")
    for (method, length), by_side in results.items():
        for side, r in by_side.items():
            print(f"  {method} {length} {side:13s} " + " ".join(f"{x:.6f}" for x in r["losses"]))
        if "harness" in by_side and "harness-gc" in by_side:
            gap = max(abs(a - b) for a, b in zip(by_side["harness"]["losses"], by_side["harness-gc"]["losses"], strict=True))
            print(f"  {method} {length}: harness with and without checkpointing differ by at most {gap:.1e}")
            assert gap <= 1e-4, f"{method} {length}: gradient checkpointing changed the loss curve by {gap}"
        if "harness" in by_side and "trainer" in by_side:
            ours, theirs = by_side["harness"]["losses"], by_side["trainer"]["losses"]
            gap = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
            flag = "" if abs(ours[0] - theirs[0]) <= 1e-3 else "  <- NOT the same first-step loss: not the same work"
            print(f"  {method} {length}: harness against Trainer: first step {ours[0]:.6f} and {theirs[0]:.6f}, "
                  f"largest gap over the steps {gap:.1e}{flag}")
    print("\n| configuration | side | peak RSS (GB) | RSS before load (GB) | peak - before (GB) | peak / Trainer's "
          "| (peak - before) / Trainer's | weights / grads / optimizer (MB) | train (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (method, length), by_side in results.items():
        ref = by_side.get("trainer")
        for side, r in by_side.items():
            own = r["peak"] - r["before"]
            ratio = f"{r['peak'] / ref['peak']:.2f}" if ref else "-"
            ratio_own = f"{own / (ref['peak'] - ref['before']):.2f}" if ref else "-"
            parts = " / ".join(f"{r['parts'][k] / MB:.1f}" for k in ("weights", "gradients", "optimizer")) \
                if r.get("parts") else "-"
            print(f"| {method}, {length} tokens | {side} | {r['peak'] / GB:.2f} | {r['before'] / GB:.2f} | {own / GB:.2f} "
                  f"| {ratio} | {ratio_own} | {parts} | {r['seconds']:.1f} |")


# ---- the child: one side, one configuration, one process -------------------------------


def status(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS: resident now; VmHWM: the peak since the reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(spec: dict) -> None:
    # Everything this side uses is imported before the reset: libraries are the process's
    # own share ("before load"), on both sides alike.
    import torch

    from harness.train.batches import Source, batches

    harness_side = spec["side"].startswith("harness")
    if harness_side:
        import peft  # noqa: F401  (harness's lora imports it when it applies; here, before the reset)

        from harness.registry import METHODS
        from harness.train import loop  # noqa: F401

        method = METHODS.load(spec["method"])
    else:
        import peft  # noqa: F401
        import transformers  # noqa: F401
        from transformers import Trainer  # noqa: F401
    if spec["quick"]:
        from harness.models.tiny import tiny_random_llama as load
    else:
        from harness.models.smollm2 import load

    Path("/proc/self/clear_refs").write_text("5")  # the peak resident set starts again from here
    before = status("VmRSS")
    model, tokenizer = load()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    count = spec["steps"] * spec["batch"]
    source = Source("scitldr dev", examples(tokenizer, spec["length"], count, chat=not spec["quick"]))
    stream = batches([source], spec["batch"], SEED)
    plan = [next(stream) for _ in range(spec["steps"])]  # the batches the harness's loop draws, in its order
    if harness_side:
        seconds, losses, parts = harness(model, tokenizer, method, source, spec)
    else:
        seconds, losses, parts = trainer(model, tokenizer, plan, spec)
    result = {"peak": status("VmHWM"), "before": before, "end": status("VmRSS"), "seconds": seconds,
              "losses": losses, "parts": parts, "widths": [max(len(e["input_ids"]) for e in b) for b in plan],
              "threads": torch.get_num_threads()}
    print("RESULT " + json.dumps(result), flush=True)


def examples(tokenizer, length: int, count: int, chat: bool) -> list[dict]:
    """The `count` longest SciTLDR dev examples within `length` tokens, each abstract cut to
    its longest run of leading sentences that fits with the whole TL;DR (rows whose first
    sentence does not fit are left out), in the order of the file among equals."""
    from harness.train.batches import encode

    rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines() if line.strip()]
    found = []
    for row in rows:
        fits = None
        for k in range(1, len(row["source"]) + 1):
            e = encode(tokenizer, f"Abstract: {' '.join(row['source'][:k])}\nTL;DR:", f" {row['target'][0]}",
                       10**9, chat=chat)
            if len(e["input_ids"]) > length:
                break
            fits = e
        if fits is not None:
            found.append(fits)
    found.sort(key=lambda e: len(e["input_ids"]), reverse=True)  # stable: file order among equals
    if len(found) < count:
        raise SystemExit(f"only {len(found)} SciTLDR rows fit in {length} tokens; {count} needed")
    return found[:count]


def harness(model, tokenizer, method, source, spec) -> tuple[float, list[float], dict]:
    """The worker's way: the method's own apply, then the loop."""
    import torch

    from harness.methods.base import ApplyContext
    from harness.suite.schema import TrainSpec
    from harness.train.loop import train

    params = method.parse(LORA if spec["method"] == "lora" else {})
    torch.manual_seed(SEED)  # peft's initialisation of the adapters, as on the Trainer's side
    applied = method.apply(model, params, ApplyContext(steps=spec["steps"], device="cpu", family="causal"))
    cfg = TrainSpec(steps=spec["steps"], batch_size=spec["batch"], learning_rate=RATE[spec["method"]],
                    max_length=spec["length"], precision="fp32", optimizer="adamw", weight_decay=0.0,
                    schedule="linear", warmup_steps=0, max_grad_norm=1.0,
                    gradient_checkpointing=spec["side"] == "harness-gc")
    start = time.perf_counter()
    result = train(applied, tokenizer, [source], cfg, SEED, desc=spec["side"])
    # what the loop set while it trained (harness/train/allocator.py): nothing on harness-glibc
    assert (result.allocator is None) == (spec["side"] == "harness-glibc"), result.allocator
    return time.perf_counter() - start, [loss for _, loss in result.loss_curve], result.memory


def trainer(model, tokenizer, plan, spec) -> tuple[float, list[float], dict]:
    """transformers' Trainer as its documentation sets it up for peft, fed the same batches."""
    import tempfile

    import torch
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from harness.train.batches import collate
    from harness.train.footprint import tensor_bytes

    class InOrder(Trainer):  # the plan's order: the batches were drawn already
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    parts: dict[str, int] = {}

    class Count(TrainerCallback):  # after the first optimizer step, before the gradients are freed: as the loop counts
        def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
            if not parts:
                parts.update(tensor_bytes(model, getattr(optimizer, "optimizer", optimizer)))
                base = model.get_base_model() if hasattr(model, "get_base_model") else model
                on = getattr(base, "is_activation_checkpointing", getattr(base, "is_gradient_checkpointing", False))
                assert bool(on) == checkpointing, f"the Trainer's checkpointing is {on}, {checkpointing} was asked"

    if spec["method"] == "lora":
        torch.manual_seed(SEED)
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **LORA))
    else:
        model.requires_grad_(True)
    checkpointing = spec["side"] == "trainer-gc"
    # transformers 5.23 renamed gradient checkpointing to activation checkpointing; the old names warn
    name = "activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__ \
        else "gradient_checkpointing"
    switch = {name: checkpointing, **({f"{name}_kwargs": {"use_reentrant": False}} if checkpointing else {})}
    flat = [e for b in plan for e in b]
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, per_device_train_batch_size=spec["batch"], max_steps=spec["steps"],
                                  learning_rate=RATE[spec["method"]], weight_decay=0.0, lr_scheduler_type="linear",
                                  warmup_steps=0, max_grad_norm=1.0, optim="adamw_torch", bf16=False, fp16=False,
                                  use_cpu=True, logging_steps=1, save_strategy="no", report_to=[],
                                  remove_unused_columns=False, dataloader_num_workers=0, seed=SEED,
                                  disable_tqdm=True, **switch)
        run = InOrder(model=model, args=targs, train_dataset=flat, callbacks=[Count()],
                      data_collator=lambda rows: collate(rows, tokenizer.pad_token_id))
        start = time.perf_counter()
        run.train()
        seconds = time.perf_counter() - start
    return seconds, [h["loss"] for h in run.state.log_history if "loss" in h], parts


if __name__ == "__main__":
    main()
