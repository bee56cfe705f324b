"""The training loop, read top to bottom: tokenize, batch, step, log.

Loss is on completion tokens only: prompt tokens get label -100, the ignore index of
torch's cross-entropy. The loop trains whatever requires grad, so methods decide what
trains by freezing the rest. Everything a run measured comes back in a TrainResult.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformers import get_scheduler

from harness.methods.base import Applied, ParamGroup
from harness.spec import TrainSpec

log = logging.getLogger(__name__)
IGNORE = -100  # torch.nn.CrossEntropyLoss's default ignore_index


@dataclass
class TrainResult:
    steps: int
    seconds: float
    tokens: int  # non-padding tokens seen, prompt included
    loss_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss)
    precision: str = "fp32"
    groups: list[dict] = field(default_factory=list)  # parameter groups with their learning rates
    events: list[tuple[int, str]] = field(default_factory=list)  # (step, what happened), e.g. unfreezing

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def encode(tokenizer, prompt: str, completion: str, max_length: int) -> dict[str, list[int]] | None:
    """Token ids and labels for one example; None when truncation leaves no completion token."""
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + completion_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + completion_ids)[:max_length]
    if all(label == IGNORE for label in labels):
        return None
    return {"input_ids": input_ids, "labels": labels}


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked out of attention and of the loss."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, :n] = torch.tensor(e["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def batches(examples: list, batch_size: int, seed: int):
    """Endless shuffled batches, reshuffled every epoch from one seeded generator."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        if len(order) < batch_size:
            fresh = list(range(len(examples)))
            rng.shuffle(fresh)
            order += fresh
        chunk, order = order[:batch_size], order[batch_size:]
        yield [examples[i] for i in chunk]


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # oneDNN knows whether this CPU has native bf16 (avx512_bf16 / AMX)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def optimizer_for(applied: Applied, cfg: TrainSpec) -> tuple[torch.optim.Optimizer, list[dict]]:
    """AdamW over the method's parameter groups, each at learning_rate x its scale.

    Weight decay applies to matrices only, not to norms and biases (the usual AdamW split).
    Parameters still frozen (gradual unfreezing) are in the optimizer already: they get no
    gradient, so AdamW leaves them alone until they are unfrozen.
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
        raise ValueError("the method left no parameter to train")
    return torch.optim.AdamW(torch_groups, lr=cfg.learning_rate), described


def train(applied: Applied, tokenizer, pairs: list[tuple[str, str]], cfg: TrainSpec, seed: int, desc: str = "train") -> TrainResult:
    model = applied.model
    device = next(model.parameters()).device
    torch.manual_seed(seed)

    examples = [e for e in (encode(tokenizer, p, c, cfg.max_length) for p, c in pairs) if e is not None]
    if len(examples) < len(pairs):
        log.warning("%d of %d training examples had no completion token left after truncation to max_length=%d; skipped",
                    len(pairs) - len(examples), len(pairs), cfg.max_length)
    if not examples:
        raise ValueError(f"no training example fits max_length={cfg.max_length} with a completion token")

    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_supported(device))
    optimizer, groups = optimizer_for(applied, cfg)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if applied.lr_lambda is not None:  # the method brings its own schedule (ULMFiT's slanted triangle)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, applied.lr_lambda)
    else:
        schedule_name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[cfg.schedule]
        scheduler = get_scheduler(schedule_name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.steps)

    model.train()
    stream = batches(examples, cfg.batch_size, seed)
    result = TrainResult(steps=cfg.steps, seconds=0.0, tokens=0, precision="bf16" if use_bf16 else "fp32", groups=groups)
    start = time.perf_counter()
    bar = tqdm(range(1, cfg.steps + 1), desc=desc, unit="step", leave=False, dynamic_ncols=True)
    for step in bar:
        if applied.on_step is not None and (note := applied.on_step(step)):
            result.events.append((step, note))
        step_loss = 0.0
        for _ in range(cfg.grad_accum):
            batch = {k: v.to(device) for k, v in collate(next(stream), tokenizer.pad_token_id).items()}
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(**batch).loss / cfg.grad_accum
            loss.backward()
            step_loss += loss.item()
            result.tokens += int(batch["attention_mask"].sum())
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        if not math.isfinite(step_loss):
            raise FloatingPointError(f"loss became {step_loss} at step {step}; lower the learning rate")
        result.loss_curve.append((step, round(step_loss, 6)))
        elapsed = time.perf_counter() - start
        bar.set_postfix(loss=f"{step_loss:.4f}", tok_s=f"{result.tokens / elapsed:.0f}")
    bar.close()
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
