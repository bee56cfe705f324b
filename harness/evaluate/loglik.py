"""Log-likelihood of continuations: the scoring behind label-word classification and
multiple choice, computed as lm-eval computes `loglikelihood` requests.

For each (context, continuation) pair: tokens of context + continuation in one sequence
(the continuation tokenized after the context, as lm-eval does), one forward pass, and the
sum of the log-probabilities of the continuation's tokens. Batches are right-padded; the
attention mask keeps padding out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


def encode_pair(tokenizer, context: str, continuation: str, specials: bool = True) -> tuple[list[int], int]:
    """(token ids, number of continuation tokens at the end). Whitespace at the end of the
    context moves to the continuation, as in lm-eval, so tokenizers see " A" not " " + "A"."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation, add_special_tokens=specials)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=specials)["input_ids"]
    n = max(1, len(whole) - len(ctx))
    return whole, n


def continuation_logprobs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 8,
                          desc: str = "score", specials: bool = True) -> list[float]:
    """Sum of log-probabilities of each continuation after its context."""
    encoded = [encode_pair(tokenizer, c, x, specials) for c, x in pairs]
    return score_encoded(model, encoded, tokenizer.pad_token_id, batch_size, desc)


@torch.no_grad()
def score_encoded(model, encoded: list[tuple[list[int], int]], pad: int, batch_size: int = 8,
                  desc: str = "score") -> list[float]:
    """For (token ids, n): the summed log-probability of the last n tokens given the rest."""
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]), reverse=True)
    out = [0.0] * len(encoded)
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False, dynamic_ncols=True):
        idx = order[start : start + batch_size]
        width = max(len(encoded[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = encoded[i][0]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        # Soft-prompt methods (peft prompt/p-tuning) return logits for their virtual tokens
        # first; keep the positions of the real tokens.
        logits = logits[:, logits.shape[1] - ids.shape[1] :]
        logprobs = F.log_softmax(logits, dim=-1)
        for row, i in enumerate(idx):
            seq, n = encoded[i]
            targets = torch.tensor(seq[-n:], device=device)
            # the token at position t is predicted by the logits at t-1
            positions = torch.arange(len(seq) - n - 1, len(seq) - 1, device=device)
            out[i] = float(logprobs[row, positions, targets].sum())
    return out
