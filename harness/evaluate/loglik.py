"""Log-likelihood of continuations: the scoring behind label-word classification and
multiple choice, computed as lm-eval computes `loglikelihood` requests.

For each (context, continuation) pair: tokens of context + continuation in one sequence
(the continuation tokenized after the context, as lm-eval does), one forward pass, and the
sum of the log-probabilities of the continuation's tokens. `choice_logprobs` scores several
continuations of one context; when each is a single token after the same context tokens
(" A" .. " D" under most tokenizers) one forward pass of the context serves them all, as
lm-eval's HFLM does, which makes multiple choice four times cheaper.

Batches are right-padded and the attention mask keeps padding out; positions count from 0
in every row. A row's numbers depend on what shares its batch, and on the thread count, by
float rounding only: the matrix products block by the batch's row count, and PyTorch's fused
attention tiles by the batch's width and splits its work by thread. The same row alone or
padded in a batch of 16 differs by up to 5e-5 (SmolLM2-135M, fp32), as it does in lm-eval,
never enough here to change a chosen answer. (Forcing the math attention kernel removes the
width and thread parts, for 8-11% more time: not worth it.)

Two things keep it fast. The output head runs only at the positions a score reads
(transformers' logits_to_keep), not over the whole vocabulary at every position. And
requests that open with the same tokens (a k-shot prompt's description and answered
examples, the same for every question of a subject) run that prefix once and continue from
its key-value cache (harness/evaluate/prefixes.py). Both change the numbers by float
rounding only (tests/evaluate/test_eval_loglik_speedups.py). To add another kind of
request, give `_run` a `read` function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from harness.evaluate import prefixes, shards
from harness.models import abilities
from harness.models.abilities import keeps_logits


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
    """One request's answer from the logits that predict its last n tokens (n x vocabulary):
    their summed log-probability, or (alternatives) the log-probability of each alternative
    last token."""
    logprobs = F.log_softmax(logits, dim=-1)
    if alternatives is not None:
        return [float(v) for v in logprobs[-1, alternatives].tolist()]
    targets = torch.tensor(seq[-n:], device=logits.device)
    return float(logprobs[torch.arange(n, device=logits.device), targets].sum())


def takes_a_cache(model) -> bool:
    """Whether a shared prefix can be run once and its key-value cache continued: not under
    peft's virtual-token methods (harness/models/abilities.py)."""
    return abilities.virtual_tokens(model) is None


@torch.no_grad()
def _run(model, requests: list[tuple[list[int], int, list[int] | None]], pad: int, batch_size: int, desc: str,
         read: Callable) -> list:
    """Forward passes over length-sorted, right-padded batches, a shared prefix run once per
    group (harness/evaluate/prefixes.py); read(logits of one request's answer tokens,
    *request) per request."""
    device = next(model.parameters()).device
    selective = keeps_logits(model)
    batches = prefixes.plan(requests, batch_size, reuse=selective and takes_a_cache(model))
    out: list = [None] * len(requests)
    done: list[int] = []
    cached: tuple[int, object] | None = None  # (group, its prefix's cache): batches of a group come in a row
    for batch in tqdm(shards.mine(batches), desc=desc, unit="batch", leave=False, dynamic_ncols=True,
                      disable=not shards.is_main()):
        idx, skip = batch.requests, batch.prefix
        done += idx
        if skip and (cached is None or cached[0] != batch.group):
            head = torch.tensor([requests[idx[0]][0][:skip]], device=device)
            cached = (batch.group, model(input_ids=head, use_cache=True, logits_to_keep=1).past_key_values)
        width = max(len(requests[i][0]) for i in idx) - skip
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), skip + width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = requests[i][0]
            ids[row, : len(seq) - skip] = torch.tensor(seq[skip:])
            mask[row, : len(seq)] = 1
        # The token at position t is predicted by the logits at t-1: a request of n answer
        # tokens reads positions len-n-1 .. len-2; every row reads the same count k (a row
        # needing fewer reads earlier positions too, and drops them), so the head runs on k
        # positions per row instead of every one. Positions count from the batch's first token.
        k = max(requests[i][1] for i in idx)
        reads = torch.tensor([[max(len(requests[i][0]) - requests[i][1] - 1 + j - (k - requests[i][1]) - skip, 0)
                               for j in range(k)] for i in idx])
        keep = {"logits_to_keep": reads.to(device)} if selective else {}
        if skip and cached is not None:
            keep["past_key_values"] = prefixes.expanded(cached[1], len(idx))
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), **keep).logits
        if not selective:
            # Soft-prompt methods (peft prompt/p-tuning) return logits for their virtual tokens
            # first; keep the positions of the real tokens, then those read.
            logits = logits[:, logits.shape[1] - ids.shape[1] :]
            logits = logits.gather(1, reads.to(logits.device).unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        for row, i in enumerate(idx):
            out[i] = read(logits[row, k - requests[i][1] :].float(), *requests[i])
    return shards.gather(out, done)  # the batches other ranks ran (harness/evaluate/shards.py)
