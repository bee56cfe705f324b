"""Generation for ROUGE/BLEU: the harness's batched greedy decoding (harness/evaluate/generation.py:
left padding, length-sorted batches, KV cache, stop strings) against the plain way, one
`generate()` call per prompt, side by side on the same model object and prompts.

The prompts are SciTLDR test abstracts (../shared/data/scitldr/test.jsonl) in the scitldr
suite's template, through the model's chat template as the harness prompts an instruct
model; both sides decode greedily up to the same number of new tokens and stop by the
same rule (a stop string once the answer has begun). It prints each side's seconds, the ratio, and how many outputs are
identical.

    python benchmarks/generation_speed.py                 # 32 prompts x 48 tokens, batch 16
    python benchmarks/generation_speed.py --prompts 8 --batch 8
    python benchmarks/generation_speed.py --dtype bf16     # bf16 weights on both sides
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
    args = ap.parse_args()

    import torch
    from transformers import StoppingCriteriaList

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

    start = time.perf_counter()
    batched = generate(model, tokenizer, prompts, args.tokens, stop, args.batch, chat=True)
    harness_s = time.perf_counter() - start

    start = time.perf_counter()
    alone = []
    with torch.no_grad():
        for p in prompts:
            enc = tokenizer(chat_prompt(tokenizer, p), return_tensors="pt", add_special_tokens=False)
            # the same stopping rule as the harness: it too stops once a line of answer is done
            stops = StoppingCriteriaList([StopAfterAnswer(tokenizer, stop, enc["input_ids"].shape[1])])
            out = model.generate(**enc, max_new_tokens=args.tokens, do_sample=False, num_beams=1, stopping_criteria=stops,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            text = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            alone.append(cut_at_stop(text, stop))
    alone_s = time.perf_counter() - start

    same = sum(a.strip() == b.strip() for a, b in zip(batched, alone))
    print(f"identical outputs: {same} of {len(prompts)}")
    print(f"harness {harness_s:.1f} s, one generate() per prompt {alone_s:.1f} s: harness {alone_s / harness_s:.2f}x faster")


if __name__ == "__main__":
    main()
