"""Each method at its best: a learning-rate search before a variant trains.

Methods want different rates (full fine-tuning about 1e-5, LoRA 1e-4 to 1e-3, prompt tuning
1e-1), so a comparison at one hand-picked rate per method measures the pick. With `search:`
on a method entry (or the suite), the worker first runs one short training per value, each
from the model as loaded, and scores it on held-out data: the search's `split` of its data
(the validation split of the training data by default; suite/checks.py refuses any split an
eval scores), by the validation check's machinery (harness/train/trainset.py:
loss per completion token, or a generation metric against the rendered completions). The
best value wins (ties: the first); a run that diverges scores nothing and loses. Short runs
are cheap by default: a quarter of the final run's steps, at least 20 (`steps:` sets them).
The
variant then trains at the chosen rate, and the record's `search` holds the values, their
scores, the choice, the steps of each short run and the seconds the search took.

Each short run loads the model afresh, so none starts from another's weights, and only
one is in memory at a time.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Callable

import torch

from harness.errors import HarnessError
from harness.methods.base import Applied, count_parameters
from harness.registry import METRICS
from harness.suite.schema import SearchSpec, TrainSpec, ValidationSpec
from harness.train import budget, flops
from harness.train.loop import train
from harness.train.trainset import stage_check

log = logging.getLogger(__name__)
MIN_STEPS = 20


def run_search(search: SearchSpec, stage: TrainSpec, sources: list, build: Callable[[int], tuple[Applied, object]],
               base_dir, seed: int, labels, family: str, train_kwargs: dict) -> tuple[TrainSpec, dict]:
    """(the stage at the chosen rate, the record's `search` entry). `build(steps)` loads the
    model afresh and applies the method, returning (applied, tokenizer)."""
    started = time.perf_counter()
    higher = search.metric != "loss" and METRICS.get(search.metric).meta.get("higher_is_better", True)
    scores: list[float | None] = []
    steps_run, final_steps = None, stage.steps
    for value in search.learning_rate:
        applied, tokenizer = build(search.steps or stage.steps)
        cfg, final_steps = short_run(search, stage, sources, applied)
        cfg = cfg.model_copy(update={"learning_rate": value})
        check = stage_check(cfg.model_copy(update={"validation": held_out(search, cfg)}), applied.model, tokenizer,
                            base_dir, labels, family)
        try:
            steps_run = train(applied, tokenizer, sources, cfg, seed, desc=f"search lr={value:g}", **train_kwargs).steps
            score = check()[search.metric] if check is not None else math.nan
        except FloatingPointError as err:  # diverged: this rate loses
            log.info("search: learning_rate %g diverged (%s)", value, err)
            score = math.nan
        scores.append(None if math.isnan(score) else round(float(score), 6))
        log.info("search: learning_rate %g scored %s %s", value, search.metric, scores[-1])
        del applied, check
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    finite = [(s, i) for i, s in enumerate(scores) if s is not None]
    if not finite:
        raise HarnessError(f"search: every learning rate of {search.learning_rate} diverged; try smaller ones")
    best = max(finite, key=lambda si: (si[0] if higher else -si[0], -si[1]))[1]
    chosen = search.learning_rate[best]
    entry = {"param": "learning_rate", "values": list(search.learning_rate), "scores": scores, "chosen": chosen,
             "metric": search.metric, "higher_is_better": higher, "data": search.data or stage.data,
             "split": search.split, "limit": search.limit, "steps": steps_run, "final_steps": final_steps,
             "seconds": round(time.perf_counter() - started, 3)}
    return stage.model_copy(update={"learning_rate": chosen}), entry


def cheap(final: int) -> int:
    """Steps of a short run when the search does not say: a quarter of the final run's, but
    at least 20 (fewer than that rarely tells rates apart), and never more than the final."""
    return min(final, max(MIN_STEPS, final // 4))


def short_run(search: SearchSpec, stage: TrainSpec, sources: list, applied: Applied) -> tuple[TrainSpec, int | None]:
    """(the settings of one short run, the final run's steps: None under a time budget): the
    stage's, with the search's steps (default: cheap() of the final run's, a FLOPs budget's
    worked out for this method; a quarter of a time budget), no checks of its own."""
    update: dict = {"validation": None, "select_best": None, "save": False, "budget": None}
    final = stage.steps
    if stage.budget is not None and stage.budget.kind == "flops":
        trainable, total = count_parameters(applied.model, [p for g in applied.param_groups or [] for p in g.params])
        derived = budget.derive(stage, budget.lengths(sources), total, trainable, flops.shape(applied.model))
        final = derived.steps if derived and derived.steps else stage.steps
    if search.steps is not None:
        update["steps"] = search.steps
    elif stage.budget is not None and stage.budget.seconds is not None:
        update["budget"] = stage.budget.model_copy(update={"seconds": stage.budget.seconds / 4})
    else:
        update["steps"] = cheap(final)
    timed = stage.budget is not None and stage.budget.seconds is not None
    return stage.model_copy(update=update), None if timed else final


def held_out(search: SearchSpec, cfg: TrainSpec) -> ValidationSpec:
    """The search's scoring as a validation check (one, after the short run)."""
    return ValidationSpec(every=cfg.steps, data=search.data, split=search.split, limit=search.limit,
                          metrics=[] if search.metric == "loss" else [search.metric],
                          max_new_tokens=search.max_new_tokens)
