"""Full fine-tuning of a randomly initialised Llama-architecture model (built from a config,
no download) through the harness's own training loop, weights in bf16 and bf16 autocast:
tokens per second and model FLOP utilisation (MFU).

MFU = (6 N + 12 L h s) x tokens per second / the GPU's peak dense bf16 FLOP/s, the
accounting of the PaLM paper (appendix B): 6 N per token for the forward and backward
passes through N parameters, 12 L h s for attention over s positions; the count and the
peaks are the harness's own (harness/train/flops.py, harness/run/peak.py), the ones every
training record's MFU uses. Steps before --warmup
are left out (CUDA start-up, allocator growth). The default shape, hidden 1024, 24 layers,
MLP 4096, vocabulary 32000, has 0.47B parameters.

    python benchmarks/mfu.py                       # on the GPU, the 0.47B model
    python benchmarks/mfu.py --device cpu --hidden 64 --layers 2 --inter 128 --vocab 256 \
        --seq 64 --batch 2 --steps 6 --warmup 2 --peak-tflops 1   # the same code on a CPU
"""

from __future__ import annotations

import argparse
import random
import time
from types import SimpleNamespace

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.methods.base import ApplyContext
from harness.registry import METHODS
from harness.run.peak import gpu_peak
from harness.suite.schema import TrainSpec
from harness.train import flops
from harness.train.batches import Source
from harness.train.loop import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--inter", type=int, default=4096)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak (default: by GPU name)")
    args = ap.parse_args()

    device = torch.device(args.device)
    config = LlamaConfig(hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.heads, intermediate_size=args.inter, vocab_size=args.vocab,
                         max_position_embeddings=args.seq, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(device=device, dtype=torch.bfloat16)
    n = sum(p.numel() for p in model.parameters())
    method = METHODS.load("full")
    applied = method.apply(model, method.parse({}), ApplyContext(steps=args.steps, device=device.type))
    rng = random.Random(0)
    examples = [{"input_ids": ids, "labels": ids} for ids in
                ([rng.randrange(args.vocab) for _ in range(args.seq)] for _ in range(args.batch * 4))]
    cfg = TrainSpec(steps=args.steps, batch_size=args.batch, max_length=args.seq, precision="bf16",
                    learning_rate=1e-4, optimizer="adamw", batching="shuffled", max_grad_norm=1.0)
    stamps: dict[int, float] = {}

    def note(step: int, loss: float, tokens_per_second: float) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps[step] = time.perf_counter()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = train(applied, SimpleNamespace(pad_token_id=0), [Source("random", examples)], cfg, seed=0, progress=note)
    measured = args.steps - args.warmup
    seconds = stamps[args.steps] - stamps[args.warmup]
    tokens_per_second = measured * args.batch * args.seq / seconds
    flops_per_token = flops.per_token(n, n, (args.layers, args.hidden), args.seq)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    table = gpu_peak(name, "bf16")
    peak = args.peak_tflops or (table.flops / 1e12 if table else None)
    print(f"device: {name}; model: Llama, {n / 1e9:.3f}B parameters, hidden {args.hidden}, {args.layers} layers; "
          f"batch {args.batch} x {args.seq} tokens; weights bf16, autocast {result.precision}, optimizer {result.optimizer} "
          f"(state {result.optimizer_state})")
    print(f"loss {result.loss_curve[0][1]:.3f} -> {result.loss_curve[-1][1]:.3f} over {args.steps} steps; "
          f"steps {args.warmup + 1}..{args.steps}: {seconds:.2f} s, {tokens_per_second:,.0f} tokens/s")
    achieved = flops_per_token * tokens_per_second / 1e12
    print(f"model FLOPs: {achieved:.1f} TFLOP/s" + (f"; MFU {100 * achieved / peak:.1f}% of {peak:g} TFLOP/s" if peak else
                                                     "; MFU unknown (pass --peak-tflops)"))
    if device.type == "cuda":
        print(f"peak memory allocated: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
