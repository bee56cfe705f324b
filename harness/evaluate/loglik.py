"""Log-likelihood of continuations: the scoring behind label-word classification and
multiple choice, computed as lm-eval computes `loglikelihood` requests.

For each (context, continuation) pair: tokens of context + continuation in one sequence
(the continuation tokenized after the context, as lm-eval does), one forward pass, and the
sum of the log-probabilities of the continuation's tokens. `choice_logprobs` scores several
continuations of one context; when each is a single token after the same context tokens
(" A" .. " D" under most tokenizers) one forward pass of the context serves them all, as
lm-eval's HFLM does, which makes multiple choice four times cheaper.

Batches are right-padded and the attention mask keeps padding out; positions count from 0
in every row. A row's numbers must not depend on what shares its batch: the forward pass
runs on PyTorch's math attention, because the fused CPU kernel (flash attention) tiles by
sequence length, so the same row padded to another width came out up to 5e-5 different
(SmolLM2-135M, fp32). With it, batch sizes 1 and 16 give identical log-probabilities on an
AVX2 CPU, for about 10% more time; on AVX-512 CPUs the matrix products still block by the
batch's row count and differ by up to 4e-5, never enough to change a chosen answer. To add another kind of request, give `_run` a `read` function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from harness.evaluate import shards


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


def choice_logprobs(model, tokenizer, contexts: list[str], choices: list[list[str]], batch_size: int = 8,
                    desc: str = "score", specials: bool = True) -> list[list[float]]:
    """For each context, the summed log-probability of each of its continuations."""
    requests: list[tuple[list[int], int, list[int] | None]] = []
    spans: list[tuple[int, int]] = []  # where each context's answers lie in the flat output
    for context, options in zip(contexts, choices):
        encoded = [encode_pair(tokenizer, context, option, specials) for option in options]
        prefixes = {tuple(seq[:-n]) for seq, n in encoded}
        start = len(requests)
        if len(prefixes) == 1 and all(n == 1 for _, n in encoded):
            # The logits after the shared context rank every one-token answer at once.
            requests.append((encoded[0][0], 1, [seq[-1] for seq, _ in encoded]))
            spans.append((start, -1))
        else:
            requests += [(seq, n, None) for seq, n in encoded]
            spans.append((start, len(encoded)))
    flat = _run(model, requests, tokenizer.pad_token_id, batch_size, desc, _read)
    return [list(flat[s]) if k == -1 else [float(v) for v in flat[s : s + k]] for s, k in spans]


def score_encoded(model, encoded: list[tuple[list[int], int]], pad: int, batch_size: int = 8,
                  desc: str = "score") -> list[float]:
    """For (token ids, n): the summed log-probability of the last n tokens given the rest."""
    return _run(model, [(seq, n, None) for seq, n in encoded], pad, batch_size, desc, _read)


def _read(logits: torch.Tensor, seq: list[int], n: int, alternatives: list[int] | None):
    """One row's answer from its logits: the summed log-probability of its last n tokens, or
    (alternatives) the log-probability of each alternative last token."""
    # the token at position t is predicted by the logits at t-1; log_softmax only where read,
    # since a full (width x vocabulary) softmax per row costs memory for nothing
    logprobs = F.log_softmax(logits[len(seq) - n - 1 : len(seq) - 1], dim=-1)
    if alternatives is not None:
        return [float(v) for v in logprobs[-1, alternatives].tolist()]
    targets = torch.tensor(seq[-n:], device=logits.device)
    return float(logprobs[torch.arange(n, device=logits.device), targets].sum())


@torch.no_grad()
def _run(model, requests: list[tuple[list[int], int, list[int] | None]], pad: int, batch_size: int, desc: str,
         read: Callable) -> list:
    """Forward passes over length-sorted, right-padded batches; read(logits of one row, *request) per request."""
    device = next(model.parameters()).device
    order = sorted(range(len(requests)), key=lambda i: len(requests[i][0]), reverse=True)
    out: list = [None] * len(requests)
    done: list[int] = []
    for start in tqdm(shards.mine(range(0, len(order), batch_size)), desc=desc, unit="batch", leave=False,
                      dynamic_ncols=True, disable=not shards.is_main()):
        idx = order[start : start + batch_size]
        done += idx
        width = max(len(requests[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = requests[i][0]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with sdpa_kernel(SDPBackend.MATH):  # width-independent numbers (module docstring)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        # Soft-prompt methods (peft prompt/p-tuning) return logits for their virtual tokens
        # first; keep the positions of the real tokens.
        logits = logits[:, logits.shape[1] - ids.shape[1] :]
        for row, i in enumerate(idx):
            out[i] = read(logits[row].float(), *requests[i])
    return shards.gather(out, done)  # the batches other ranks ran (harness/evaluate/shards.py)
