"""Shared prefixes of log-likelihood requests, run once: the batching plan and the cache.

A k-shot multiple-choice prompt opens with the same description and answered examples for
every question of a subject (600 tokens of a 700-token prompt at 5 shots): running that
prefix once per subject and continuing each question from its key-value cache does the
same arithmetic on a sixth of the tokens (lm-eval's own logits cache gave 4x on MMLU, PR
#631). Nothing here knows about MMLU: requests are grouped by the tokens they share.

`plan(requests, batch_size)` sorts the requests by their tokens, walks them in that order,
and keeps together those that share at least MIN_PREFIX leading tokens, as long as a new
member does not shorten the shared part by more than it saves; each group's prefix is what
all its members share, cut so that every position a member reads lies after it. Batches never mix groups; requests in no group form ordinary batches (prefix 0).
`expanded(cache, rows)` is a prefix's cache as a batch of `rows` copies, views only:
attention appends each batch's keys by concatenation, so the prefix's tensors stay as they
are for the next batch.

The scores equal those of whole sequences to float rounding (the attention over prefix and
suffix is computed in two matrix products instead of one): tests/evaluate pins it.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_PREFIX = 8  # tokens: a shorter shared start saves less than the bookkeeping costs


@dataclass(frozen=True)
class Batch:
    prefix: int  # leading tokens every request of the batch shares and takes from the cache (0: none)
    group: int  # which group's prefix (-1: none)
    requests: list[int]  # indices into the requests, longest first


def plan(requests: list[tuple[list[int], int, object]], batch_size: int, reuse: bool = True) -> list[Batch]:
    """Batches of requests (token ids, answer tokens n, ...), grouped by shared prefix when `reuse`."""
    groups: list[tuple[int, list[int]]] = []  # (shared length, members)
    if reuse:
        for i in sorted(range(len(requests)), key=lambda i: requests[i][0]):
            seq, n = requests[i][0], requests[i][1]
            first_read = len(seq) - n - 1  # a member's reads must all come after the prefix
            if groups:
                shared, members = groups[-1]
                common = min(_common(requests[members[0]][0], seq, shared), first_read)
                # Joining shortens what the group shares to `common`: worth it while the
                # tokens saved, members x common, are no fewer than before, (members - 1) x shared
                # (two subjects' prompts share only "The following are ... about").
                if common >= MIN_PREFIX and len(members) * common >= (len(members) - 1) * shared:
                    groups[-1] = (common, members + [i])
                    continue
            groups.append((min(len(seq), first_read), [i]))
    else:
        groups = [(0, list(range(len(requests))))]
    batches: list[Batch] = []
    loose: list[int] = []
    for g, (shared, members) in enumerate(groups):
        if len(members) < 2 or shared < MIN_PREFIX:
            loose += members
            continue
        batches += _batched(requests, members, batch_size, shared, g)
    return batches + _batched(requests, loose, batch_size, 0, -1)


def _batched(requests, members: list[int], batch_size: int, prefix: int, group: int) -> list[Batch]:
    # longest first, as the plain batches: similar lengths share a batch, so little padding
    order = sorted(members, key=lambda i: len(requests[i][0]), reverse=True)
    return [Batch(prefix, group, order[s : s + batch_size]) for s in range(0, len(order), batch_size)]


def _common(a: list[int], b: list[int], limit: int) -> int:
    """Length of the common start of a and b, at most `limit`."""
    n = min(len(a), len(b), limit)
    for j in range(n):
        if a[j] != b[j]:
            return j
    return n


def expanded(cache, rows: int):
    """A new DynamicCache holding `cache`'s keys and values repeated for `rows` rows (views)."""
    from transformers import DynamicCache

    out = DynamicCache()
    for layer, entry in enumerate(cache.layers):
        out.update(entry.keys.expand(rows, -1, -1, -1), entry.values.expand(rows, -1, -1, -1), layer)
    return out
