"""Generation for ROUGE/BLEU: the harness's greedy decoding (harness/evaluate/decode.py: each
prompt's pass alone, then the rows decoded as one batch over preallocated key-value
buffers, ended rows leaving) against the plain way, one `generate()` call per prompt, side
by side on the same model object and prompts; and, as a third side, the harness's previous
path, transformers' generate() on length-sorted, left-padded batches.

The prompts are SciTLDR test abstracts (../shared/data/scitldr/test.jsonl) in the scitldr
suite's template, through the model's chat template as the harness prompts an instruct
model; both sides decode greedily up to the same number of new tokens and stop by the
same rule (a stop string once the answer has begun). It prints each side's seconds, the ratio, and how many outputs are
identical.

    python benchmarks/generation_speed.py                 # 32 prompts x 48 tokens, batch 16
    python benchmarks/generation_speed.py --prompts 8 --batch 8
    python benchmarks/generation_speed.py --dtype bf16     # bf16 weights on both sides
    python benchmarks/generation_speed.py --repeats 2      # mirrored runs, best of each side

The model runs one warm-up batch before anything is timed; with --repeats the order of
the sides alternates and each side's fastest run counts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scitldr" / "test.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="the weights' dtype, on both sides (bf16: what load_dtype: bf16 gives)")
    ap.add_argument("--repeats", type=int, default=1, help="mirrored runs of the sides; the fastest of each counts")
    args = ap.parse_args()

    import torch
    from transformers import StoppingCriteriaList

    from harness.evaluate import decode
    from harness.evaluate.generation import StopAfterAnswer, cut_at_stop, generate
    from harness.models.smollm2 import load
    from harness.train.batches import chat_prompt

    model, tokenizer = load()
    model = model.to(torch.bfloat16 if args.dtype == "bf16" else torch.float32)
    rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines()[: args.prompts]]
    prompts = [f"Abstract: {' '.join(r['source'])}\nTL;DR:" for r in rows]
    stop = ["\n"]
    print(f"SmolLM2-135M-Instruct, {args.dtype}, {torch.get_num_threads()} threads; {len(prompts)} SciTLDR prompts, "
          f"up to {args.tokens} new tokens, batch {args.batch}")

    def harness_side():
        return generate(model, tokenizer, prompts, args.tokens, stop, args.batch, chat=True)

    def padded_side():  # the same call with the decoder switched off: generate() on padded batches
        supports, decode.supports = decode.supports, lambda m: False
        try:
            return generate(model, tokenizer, prompts, args.tokens, stop, args.batch, chat=True)
        finally:
            decode.supports = supports

    @torch.no_grad()
    def alone_side():
        alone = []
        for p in prompts:
            enc = tokenizer(chat_prompt(tokenizer, p), return_tensors="pt", add_special_tokens=False)
            # the same stopping rule as the harness: it too stops once a line of answer is done
            stops = StoppingCriteriaList([StopAfterAnswer(tokenizer, stop, enc["input_ids"].shape[1])])
            out = model.generate(**enc, max_new_tokens=args.tokens, do_sample=False, num_beams=1, stopping_criteria=stops,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            text = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            alone.append(cut_at_stop(text, stop))
        return alone

    with torch.no_grad():  # warm-up: thread pool and kernels, for every side alike
        model(input_ids=torch.randint(100, 1000, (args.batch, 128)))
    sides = [("harness", harness_side), ("generate() on padded batches", padded_side), ("one generate() per prompt", alone_side)]
    times: dict[str, list[float]] = {name: [] for name, _ in sides}
    outputs: dict[str, list[str]] = {}
    for r in range(args.repeats):
        for name, fn in sides if r % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)
    if args.repeats > 1:
        print("runs (s): " + "; ".join(f"{k} {', '.join(f'{t:.1f}' for t in v)}" for k, v in times.items()))
    batched, padded, alone = (outputs[name] for name, _ in sides)
    harness_s, padded_s, alone_s = (min(times[name]) for name, _ in sides)
    print(f"generate() on padded batches: {padded_s:.1f} s, {alone_s / padded_s:.2f}x faster than one per prompt, "
          f"{sum(a.strip() == b.strip() for a, b in zip(padded, alone))} of {len(prompts)} identical")

    same = sum(a.strip() == b.strip() for a, b in zip(batched, alone))
    print(f"identical outputs: {same} of {len(prompts)}")
    print(f"harness {harness_s:.1f} s, one generate() per prompt {alone_s:.1f} s: harness {alone_s / harness_s:.2f}x faster")


if __name__ == "__main__":
    main()
