"""Which batches of an evaluation this process runs, and the gathering of what they gave.

One process (the default) runs every batch. A variant trained with DDP is evaluated by all
its ranks: the worker calls `split_across(rank, world)`, and every batch loop of the
evaluators (generation, log-likelihood scoring, a classifier head) forms its batches as one
process would (same order, same rows, same padding) and runs every world-th of them,
starting at its rank; `gather` then gives every rank all the results, in order. So the
predictions equal one process's exactly (a row's numbers depend on its batch, which does
not change), and the work is split. Under FSDP or DeepSpeed the weights are sharded and
each forward pass needs every rank, so there the ranks do not split (the worker leaves
this at one process).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
_rank, _world = 0, 1


def split_across(rank: int, world: int) -> None:
    global _rank, _world
    _rank, _world = rank, world


def is_main() -> bool:
    """Whether this process shows progress bars (rank 0, or the only one)."""
    return _rank == 0


def mine(starts: range | list[int]) -> list[int]:
    """The batch starts this process runs, of all a loop would run."""
    return list(starts)[_rank::_world]


def gather(out: list[Any], done: list[int]) -> list[Any]:
    """`out` with every rank's results filled in: each rank filled the indices in `done`."""
    if _world == 1:
        return out
    import torch.distributed as dist

    log.info("rank %d of %d computed %d of %d results", _rank, _world, len(done), len(out))
    parts: list[Any] = [None] * _world
    dist.all_gather_object(parts, {i: out[i] for i in done})
    for part in parts:
        for i, value in part.items():
            out[i] = value
    return out
