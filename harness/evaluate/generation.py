"""Batched greedy decoding: left padding, length-sorted batches, KV cache, stop strings.

Left padding puts every prompt's last token at the same position, so one forward pass
continues them all; sorting by length keeps padding (wasted compute) small.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from harness.batching import chat_prompt


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text up to the first stop string (the stop string itself dropped)."""
    ends = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(ends)] if ends else text


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, stop: list[str], batch_size: int,
             desc: str = "generate", chat: bool = False) -> list[str]:
    """Greedy continuations of the prompts (as user turns of the chat template if chat)."""
    device = next(model.parameters()).device
    if chat:  # the template brings its own special tokens
        prompts = [chat_prompt(tokenizer, p) for p in prompts]
    specials = not chat
    lengths = [len(tokenizer(p, add_special_tokens=specials)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i], reverse=True)
    outputs: list[str] = [""] * len(prompts)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False, dynamic_ncols=True):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=specials).to(device)
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                stop_strings=[s for s in stop if s] or None,
                tokenizer=tokenizer,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            for i, text in zip(idx, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                outputs[i] = cut_at_stop(text, stop)
    finally:
        tokenizer.padding_side = side
    return outputs
