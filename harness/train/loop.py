"""The training loop, read top to bottom: optimizer, schedule, steps, checks, best weights.

The loop trains what the method hands it (Applied): its parameter groups at their own
rates, its schedule if it brings one, its per-step hook (gradual unfreezing). Batches come
from batches.py (loss on completion tokens only). With a validation block it checks the
model before the first step, every `every` steps and after the last, and with select_best
it ends with the weights of the best check. Everything measured comes back in a TrainResult.
Whether it runs in one process or as one rank of several is parallel.py's business; the
optimizer is the stage's choice (optimizers.py). With checkpoint_every it saves its state
every N steps and, given a checkpoint of its stage, continues from it exactly (checkpoint.py).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformers import get_scheduler

from harness.errors import HarnessError
from harness.methods.base import Applied, ParamGroup
from harness.models.abilities import keeps_logits
from harness.models.precision import bf16_supported
from harness.registry import METRICS
from harness.suite.schema import TrainSpec
from harness.train import allocator, checkpoint, footprint, optimizers
from harness.train.batches import Source, batches, collate, loss_items
from harness.train.objectives import sft_loss
from harness.train.parallel import for_this_process
from harness.train.preference import Reference, check_supported, collate_pairs, preference_terms

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    steps: int
    seconds: float
    tokens: int  # non-padding tokens seen, prompt included
    loss_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss)
    precision: str = "fp32"  # autocast: fp32 (none), bf16 or fp16
    optimizer: str = "adamw"
    optimizer_state: str = "fp32"  # the dtype of its moments
    groups: list[dict] = field(default_factory=list)  # parameter groups with their learning rates
    events: list[tuple[int, str]] = field(default_factory=list)  # (step, what happened), e.g. unfreezing
    validation_curve: list[dict] = field(default_factory=list)  # {"step": s, "loss": x, metric: y}
    best_step: int | None = None  # with select_best: the step whose weights the model ends with
    # objective dpo: per step, the training batches' mean chosen and rejected rewards, their
    # margin and the share of pairs ranked right (harness/train/preference.py)
    preference_curve: list[dict] = field(default_factory=list)
    reference: dict | None = None  # objective dpo: what the reference model was, and its bytes
    # bytes of weights, gradients and optimizer state after the first step (footprint.py)
    memory: dict[str, int] = field(default_factory=dict)
    allocator: dict | None = None  # what allocator.py set while it trained (a CPU with glibc)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def optimizer_for(applied: Applied, cfg: TrainSpec, name: str = "adamw") -> tuple[torch.optim.Optimizer, list[dict]]:
    """The optimizer `name` over the method's parameter groups, each at learning_rate x its scale.

    Weight decay applies to matrices only, not to norms and biases (the usual AdamW split).
    Parameters still frozen (gradual unfreezing) are in the optimizer already: they get no
    gradient, so the optimizer leaves them alone until they are unfrozen.
    """
    groups = applied.param_groups or [ParamGroup("all", [p for p in applied.model.parameters() if p.requires_grad])]
    torch_groups, described = [], []
    for g in groups:
        lr = cfg.learning_rate * g.lr_scale
        for decay, params in ((cfg.weight_decay, [p for p in g.params if p.dim() >= 2]), (0.0, [p for p in g.params if p.dim() < 2])):
            if params:
                torch_groups.append({"params": params, "lr": lr, "weight_decay": decay})
        described.append({"group": g.name, "learning_rate": lr, "params": sum(p.numel() for p in g.params)})
    if not torch_groups:
        raise HarnessError("the method left no parameter to train")
    return optimizers.build(name, torch_groups, cfg.learning_rate), described


def precision_of(cfg: TrainSpec, device: torch.device) -> str:
    """The autocast a stage trains under: its setting, auto being bf16 where it is native."""
    if cfg.precision != "auto":
        return cfg.precision
    return "bf16" if bf16_supported(device) else "fp32"


def train(applied: Applied, tokenizer, sources: list[Source], cfg: TrainSpec, seed: int, desc: str = "train",
          step_offset: int = 0, check: Callable[[], dict[str, float]] | None = None,
          gpu_optimizer: str | None = None, distributed: dict | None = None,
          progress: Callable[[int, float, float], None] | None = None,
          checkpoints: checkpoint.Checkpoints | None = None) -> TrainResult:
    """Train for cfg.steps optimizer steps; step numbers in the result continue from step_offset
    (earlier stages), and so do the method's schedule and hook. `gpu_optimizer` is the
    method's optimizer under "auto" on a GPU; `distributed` the variant's block (used when
    torchrun started several processes); `progress(step, loss, tokens_per_second)` is told
    of every step; `checkpoints` the variant's (saved to every cfg.checkpoint_every steps,
    resumed from when one of this stage was found). On a CPU, freed large blocks go back to
    the system while it trains (allocator.py)."""
    with allocator.training(next(applied.model.parameters()).device) as held:
        result = _train(applied, tokenizer, sources, cfg, seed, desc, step_offset, check, gpu_optimizer, distributed,
                        progress, checkpoints, held)
    result.allocator = held
    return result


def _train(applied: Applied, tokenizer, sources: list[Source], cfg: TrainSpec, seed: int, desc: str,
           step_offset: int, check: Callable[[], dict[str, float]] | None, gpu_optimizer: str | None,
           distributed: dict | None, progress: Callable[[int, float, float], None] | None,
           checkpoints: checkpoint.Checkpoints | None, held: dict | None) -> TrainResult:
    model = applied.model
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    precision = precision_of(cfg, device)
    parallel = for_this_process(device, precision, distributed, cfg.batch_size, cfg.grad_accum)
    if parallel.world > 1 and applied.on_step is not None:
        # DDP syncs the gradients of the parameters that train when it wraps the model; one
        # unfrozen later would never be synced.
        raise HarnessError("gradual unfreezing cannot run on several processes (resources.gpus > 1); "
                           "train this variant on one GPU")
    optimizer_name = optimizers.resolve(cfg.optimizer, gpu_optimizer, device)
    optimizer, groups = optimizer_for(applied, cfg, optimizer_name)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if precision == "fp16" and any(p.dtype == torch.float16 for p in params):
        raise HarnessError("precision fp16 scales gradients of fp32 weights; these weights are fp16 "
                           "(load_dtype: fp16): load them in fp32, autocast computes in fp16")
    state = optimizers.state_dtype(optimizer_name, params[0].dtype)
    # The scheduler is made before accelerate wraps the optimizer and stepped here once per
    # step: accelerate's own wrapper would step it once per process.
    seconds = cfg.budget.seconds if cfg.budget is not None else None  # a time budget: steps unknown ahead
    clock = _Clock(seconds)
    if applied.lr_lambda is not None:  # the method brings its own schedule (ULMFiT's slanted triangle)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: applied.lr_lambda(t + step_offset))
    elif seconds is not None:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: clock.rate(t, cfg))
    else:
        schedule_name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[cfg.schedule]
        scheduler = get_scheduler(schedule_name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.steps)

    trained, optimizer = parallel.prepare(model, optimizer)
    selective = keeps_logits(model)  # the output head at completion tokens only (objectives.py)
    # activations recomputed in backward instead of kept (footprint.py); off again after the stage
    checkpointing_off = footprint.gradient_checkpointing(model) if cfg.gradient_checkpointing else None
    reference = None
    if cfg.objective == "dpo":
        check_supported(model)
        # The model this stage starts from (on a resume, the checkpoint puts back its copy).
        reference = Reference.for_stage(model, cfg, step_offset == 0, params)

    result = TrainResult(steps=cfg.steps, seconds=0.0, tokens=0, precision=precision, groups=groups,
                         optimizer=optimizer_name, optimizer_state=state,
                         reference=reference.describe() if reference is not None else None)
    best = _Best(cfg.select_best, params) if cfg.select_best else None

    def validate(step: int) -> None:
        if check is None or cfg.validation is None:
            return
        model.eval()
        with clock.paused(), allocator.evaluating(held):
            scores = check()
        model.train()
        result.validation_curve.append({"step": step, **scores})
        if best is not None and best.offer(step, scores):
            result.best_step = step

    stream = batches(sources, cfg.batch_size, seed, by_length=cfg.batching == "by_length")
    every = cfg.checkpoint_every if checkpoints is not None else None
    if every and (parallel.world > 1 or seconds is not None):  # the worker and the schema refuse these first
        raise HarnessError("checkpoint_every cannot resume several processes or a seconds budget exactly")
    resumed = checkpoints.resume(model, optimizer, scheduler, parallel.scaler, result, best, reference) \
        if checkpoints else None
    done = resumed.done if resumed is not None else 0  # steps of this stage trained before the checkpoint
    if resumed is not None:
        # The stream is a function of the seed: drawing the batches trained on again (and
        # dropping them) puts it where it was, without computing anything.
        for _ in range(done * cfg.grad_accum):
            next(stream)
        result.events.append((step_offset + done, checkpoint.RESUMED))
        log.info("%s: resuming from the checkpoint at step %d", desc, step_offset + done)
    earlier = result.seconds  # spent before the checkpoint resumed from
    start = time.perf_counter()
    model.train()
    if resumed is None:
        validate(step_offset)
    else:
        checkpoint.restore_rng(resumed.rng)  # last: nothing may draw from them before the next step
    clock.start()
    planned = None if seconds is not None else cfg.steps
    first = step_offset + done + 1
    steps = itertools.count(first) if planned is None else range(first, step_offset + planned + 1)
    bar = tqdm(steps, total=planned, initial=done, desc=desc, unit="step", leave=False, dynamic_ncols=True,
               disable=not parallel.is_main)
    step = step_offset + done
    for step in bar:
        if applied.on_step is not None and (note := applied.on_step(step)):
            result.events.append((step, note))
        step_loss = 0.0
        if reference is not None:  # a preference step
            step_loss, stats = _preference_step(trained, stream, reference, cfg, tokenizer.pad_token_id, device,
                                                parallel, selective, result)
            result.preference_curve.append({"step": step, **stats})
        for micro in range(cfg.grad_accum if reference is None else 0):
            batch = {k: v.to(device) for k, v in collate(parallel.share(next(stream)), tokenizer.pad_token_id).items()}
            items = loss_items(batch, model)
            all_items, tokens = parallel.total([items, int(batch["attention_mask"].sum())])
            # Gradients sync on the last micro-batch only (DDP); one process has nothing to sync.
            syncing = contextlib.nullcontext() if micro == cfg.grad_accum - 1 else parallel.no_sync(trained)
            with syncing:
                with parallel.autocast():
                    # This rank's share of the micro-batch's mean loss, times the world size that
                    # DDP's average divides by again (parallel.py); exactly the loss in one process.
                    # A share without loss tokens adds nothing, but still takes part in the sync.
                    share = items * parallel.world / all_items if all_items else 0.0
                    if items or selective:
                        loss = sft_loss(trained, batch, selective) * share / cfg.grad_accum
                    else:
                        loss = trained(**batch).logits.sum() * 0.0
                parallel.backward(loss)
            step_loss += parallel.total([loss.item()])[0] / parallel.world
            result.tokens += int(tokens)
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"loss became {step_loss} at step {step}; lower the learning rate")
        parallel.step(optimizer, trained, cfg.max_grad_norm)
        if not result.memory:  # gradients and optimizer state both allocated, before the gradients are freed
            result.memory = footprint.tensor_bytes(model, getattr(optimizer, "optimizer", optimizer))
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        result.loss_curve.append((step, round(step_loss, 6)))
        elapsed = earlier + time.perf_counter() - start
        bar.set_postfix(loss=f"{step_loss:.4f}", tok_s=f"{result.tokens / elapsed:.0f}")
        if progress is not None:
            progress(step, step_loss, result.tokens / elapsed)
        # Every rank stops at the same step: the time is up when it is up on any of them.
        spent = planned is None and parallel.total([float(clock.spent())])[0] > 0
        if cfg.validation is not None and (step - step_offset) % cfg.validation.every == 0 and not spent \
                and (planned is None or step < step_offset + planned):
            validate(step)
        if every and (step - step_offset) % every == 0 and checkpoints is not None:
            result.seconds = earlier + time.perf_counter() - start
            checkpoints.save(step, checkpoint.capture(model, optimizer, scheduler, parallel.scaler, checkpoints.trained,
                                                      step - step_offset, result, best, reference))
        if spent:
            break
    bar.close()
    result.steps = step - step_offset
    validate(step)
    if best is not None and best.step is not None:
        best.restore()
        log.info("kept the weights of step %d (best %s %.4g)", best.step, cfg.select_best, best.value)
    result.seconds = earlier + time.perf_counter() - start
    if checkpointing_off is not None:
        checkpointing_off()
    model.eval()
    return result


def _preference_step(model, stream, reference: Reference, cfg: TrainSpec, pad: int, device, parallel, selective: bool,
                     result: TrainResult) -> tuple[float, dict[str, float]]:
    """One optimizer step's gradients from cfg.grad_accum micro-batches of pairs: (its loss,
    the means of trl's training metrics over its pairs). Each rank takes its share of a
    micro-batch's pairs and divides its summed loss by the pairs of every rank, times the
    world size that DDP's average divides out: the gradient of the whole micro-batch's mean,
    as in one process (the supervised steps' rule, harness/train/parallel.py)."""
    step_loss, totals, pairs_seen = 0.0, {}, 0.0
    for micro in range(cfg.grad_accum):
        batch = {k: v.to(device) for k, v in collate_pairs(parallel.share(next(stream)), pad).items()}
        with parallel.autocast():  # a region of its own (preference_terms says why)
            ref = reference.logps(batch, selective)
        syncing = contextlib.nullcontext() if micro == cfg.grad_accum - 1 else parallel.no_sync(model)
        with syncing:
            with parallel.autocast():
                terms = preference_terms(model, batch, ref, cfg, selective)
                pairs, tokens, n = parallel.total([terms.pairs, terms.nll_tokens, int(batch["attention_mask"].sum())])
                loss = terms.loss(pairs, tokens) * parallel.world / cfg.grad_accum
            parallel.backward(loss)
        step_loss += parallel.total([loss.item()])[0] / parallel.world
        result.tokens += int(n)
        pairs_seen += pairs
        for k, v in zip(terms.stats, parallel.total(list(terms.stats.values()))):
            totals[k] = totals.get(k, 0.0) + v
    return step_loss, {k: round(v / pairs_seen, 6) for k, v in totals.items()}


class _Clock:
    """A time budget's clock: training time only (validation checks paused out of it), and
    the schedule's multiplier as a function of the time spent instead of the step."""

    def __init__(self, seconds: float | None):
        self.seconds, self.begun, self.excluded = seconds, None, 0.0

    def start(self) -> None:
        self.begun = time.perf_counter()

    def elapsed(self) -> float:
        return 0.0 if self.begun is None else time.perf_counter() - self.begun - self.excluded

    def spent(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds

    @contextlib.contextmanager
    def paused(self):
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - begun if self.begun is not None else 0.0

    def rate(self, step: int, cfg: TrainSpec) -> float:
        """transformers' schedules (warmup in steps, then linear or cosine decay), with the
        share of the time spent standing for the share of steps done."""
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps  # LambdaLR's step is the count done so far
        done = min(1.0, self.elapsed() / self.seconds) if self.seconds else 0.0
        if cfg.schedule == "linear":
            return max(0.0, 1.0 - done)
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * done))
        return 1.0


class _Best:
    """The best check so far and a copy of the trainable weights at that point."""

    def __init__(self, metric: str, params: list[torch.nn.Parameter]):
        self.metric, self.params = metric, params
        self.lower_is_better = metric == "loss" or not METRICS.get(metric).meta.get("higher_is_better", True)
        self.step: int | None = None
        self.value = math.inf if self.lower_is_better else -math.inf
        self.saved: list[torch.Tensor] = []

    def offer(self, step: int, scores: dict[str, float]) -> bool:
        value = scores[self.metric]
        if not (value < self.value if self.lower_is_better else value > self.value):
            return False
        self.step, self.value = step, value
        self.saved = [p.detach().to("cpu", copy=True) for p in self.params]
        return True

    def restore(self) -> None:
        with torch.no_grad():
            for p, saved in zip(self.params, self.saved):
                p.copy_(saved.to(p.device))
