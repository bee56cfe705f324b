"""LoRA training speed: the harness's loop (harness/train/loop.py) against transformers'
Trainer with peft and against a minimal hand-written loop, side by side on the same batches.

Each side starts from a freshly loaded SmolLM2-135M-Instruct with the same LoRA (r 8, alpha
16, every linear layer but the head, peft's initialisation under the same seed), the same
AdamW (rate 5e-4, no weight decay, linear decay, clipping at 1.0) and the same 20 batches of
8 SciTLDR dev examples (abstract to TL;DR in the scitldr suite's template, through the chat
template, at most 448 tokens), drawn once by the harness's length-grouped sampler and handed
to the Trainer in that order (a sequential sampler and the harness's collate function) and to
the hand loop. Loss is on the TL;DR tokens only, on every side. Tokens per second counts real
(non-padding) tokens over the whole call that trains, set-up included. Each side's loss at
every step is printed against the hand loop's, which shows they did the same work.

    python benchmarks/train_speed.py                     # fp32 and bf16 autocast, 20 steps
    python benchmarks/train_speed.py --precision fp32 --steps 4
    python benchmarks/train_speed.py --profile --steps 4  # where the harness's step spends its time
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scitldr" / "dev.jsonl"
LEARNING_RATE, RANK, ALPHA, SEED = 5.0e-4, 8, 16, 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=448)
    ap.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each side; its best time counts")
    ap.add_argument("--profile", action="store_true",
                    help="instead: torch.profiler over the harness's steps, the operators that took the most time")
    args = ap.parse_args()

    import torch

    from harness.models.precision import bf16_supported
    from harness.models.smollm2 import load
    from harness.train.batches import Source, batches, encode

    _, tokenizer = load()
    rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines()]
    examples = [e for r in rows if (e := encode(tokenizer, f"Abstract: {' '.join(r['source'])}\nTL;DR:", f" {r['target'][0]}",
                                                args.max_length, chat=True))]
    source = Source("scitldr dev", examples)
    stream = batches([source], args.batch, SEED)
    plan = [next(stream) for _ in range(args.steps)]  # the batches the harness's loop draws, in its order
    tokens = sum(len(e["input_ids"]) for b in plan for e in b)
    labelled = sum(sum(t != -100 for t in e["labels"]) for b in plan for e in b)
    print(f"SmolLM2-135M-Instruct + LoRA r{RANK}, {torch.get_num_threads()} threads, bf16 native: "
          f"{bf16_supported(torch.device('cpu'))}; {args.steps} steps x {args.batch} SciTLDR examples, "
          f"{tokens} real tokens ({labelled} of them completion)")

    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    if args.profile:
        for precision in precisions:
            profile(source, plan, tokenizer, precision, args)
        return
    hand_loop(plan[:2], tokenizer, precisions[0])  # warm-up, untimed: the first run in a process pays page faults
    for precision in precisions:
        # Each side runs --repeats times, in mirrored order (hand, harness, Trainer, Trainer,
        # harness, hand), and keeps its best time: a shared machine's slow moments fall on
        # every side alike, and none is always first.
        runs: dict[str, list[tuple[float, list[float]]]] = {"hand": [], "harness": [], "trainer": []}
        sides = {"hand": lambda: hand_loop(plan, tokenizer, precision),
                 "harness": lambda: harness_loop(source, plan, tokenizer, precision, args),
                 "trainer": lambda: trainer(plan, tokenizer, precision)}
        for r in range(args.repeats):
            for side in (list(sides) if r % 2 == 0 else list(reversed(sides))):
                runs[side].append(sides[side]())
        (hand_s, hand_losses), (harness_s, harness_losses), (trainer_s, trainer_losses) = (
            min(runs[side]) for side in ("hand", "harness", "trainer"))
        print(f"\n{precision} (best of {args.repeats}; all times: "
              + ", ".join(f"{side} " + " ".join(f"{t:.1f}" for t, _ in runs[side]) for side in runs) + "):")
        for name, seconds, losses in (("hand loop", hand_s, hand_losses), ("harness", harness_s, harness_losses),
                                      ("Trainer+peft", trainer_s, trainer_losses)):
            gap = max(abs(a - b) for a, b in zip(losses, hand_losses, strict=True))
            print(f"  {name:13s} {seconds:7.1f} s  {tokens / seconds:7.1f} tokens/s  "
                  f"loss step 1 {losses[0]:.4f}, step {len(losses)} {losses[-1]:.4f}  (max gap to the hand loop {gap:.1e})")
        print(f"  harness against Trainer+peft: {trainer_s / harness_s:.2f}x tokens/s")
        print(f"  harness loop overhead against the hand loop (the same loss): {100 * (harness_s / hand_s - 1):+.1f}%")


def _lora_model():
    import torch
    from peft import LoraConfig, get_peft_model

    from harness.models.smollm2 import load

    model, _ = load()
    torch.manual_seed(SEED)
    return get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules="all-linear"))


def harness_loop(source, plan, tokenizer, precision: str, args) -> tuple[float, list[float]]:
    import torch

    from harness.methods.base import Applied
    from harness.suite.schema import TrainSpec
    from harness.train.loop import train

    model = _lora_model()
    cfg = TrainSpec(steps=len(plan), batch_size=args.batch, learning_rate=LEARNING_RATE, max_length=args.max_length,
                    precision=precision, optimizer="adamw")
    torch.manual_seed(SEED)
    start = time.perf_counter()
    result = train(Applied(model), tokenizer, [source], cfg, SEED, desc="harness")
    seconds = time.perf_counter() - start
    return seconds, [loss for _, loss in result.loss_curve]


def profile(source, plan, tokenizer, precision: str, args) -> None:
    """The harness's steps under torch.profiler: operators by their own time, and the share
    of the forward and backward passes, the optimizer and the rest."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    with profiler(activities=[ProfilerActivity.CPU]) as prof:
        seconds, _ = harness_loop(source, plan, tokenizer, precision, args)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    print(f"\n{precision}: {len(plan)} steps in {seconds:.1f} s under the profiler; operators by their own time:")
    for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:14]:
        print(f"  {e.key:45s} {100 * e.self_cpu_time_total / total:5.1f}%  {e.count:7d} calls")
    backward = sum(e.self_cpu_time_total for e in events if "Backward" in e.key or e.key.startswith("autograd::"))
    print(f"  in autograd's backward functions: {100 * backward / total:.1f}%")


def hand_loop(plan, tokenizer, precision: str) -> tuple[float, list[float]]:
    """The least a training loop can be: forward, backward, clip, step. Its loss is the
    harness's objective (the output head at completion tokens only), so against the harness
    it measures what the loop adds around the same arithmetic."""
    import torch
    from transformers import get_scheduler

    from harness.models.abilities import keeps_logits
    from harness.train.batches import collate
    from harness.train.objectives import sft_loss

    model = _lora_model()
    selective = keeps_logits(model)
    start = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.0)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=len(plan))
    model.train()
    losses = []
    for examples in plan:
        batch = collate(examples, tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = sft_loss(model, batch, selective)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return time.perf_counter() - start, losses


def trainer(plan, tokenizer, precision: str) -> tuple[float, list[float]]:
    """transformers' Trainer as its documentation sets it up for peft, fed the same batches."""
    import tempfile

    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainingArguments

    from harness.train.batches import collate

    class InOrder(Trainer):  # the plan's order: the batches were drawn already
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    model = _lora_model()
    flat = [e for b in plan for e in b]
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, per_device_train_batch_size=len(plan[0]), max_steps=len(plan),
                                  learning_rate=LEARNING_RATE, weight_decay=0.0, lr_scheduler_type="linear",
                                  warmup_steps=0, max_grad_norm=1.0, optim="adamw_torch", bf16=precision == "bf16",
                                  use_cpu=True, logging_steps=1, save_strategy="no", report_to=[],
                                  remove_unused_columns=False, dataloader_num_workers=0, seed=SEED, disable_tqdm=True)
        run = InOrder(model=model, args=targs, train_dataset=flat,
                      data_collator=lambda rows: collate(rows, tokenizer.pad_token_id))
        start = time.perf_counter()
        run.train()
        seconds = time.perf_counter() - start
    losses = [h["loss"] for h in run.state.log_history if "loss" in h]
    return seconds, losses


if __name__ == "__main__":
    main()
