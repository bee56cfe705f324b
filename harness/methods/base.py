"""The Method protocol and what every method shares: params checking and counting.

A method is a frozen `Method` object. Its params are a pydantic model with extra keys
forbidden (unless the method passes unknown keys on to a library config, as lora does to
peft's LoraConfig); `validate` returns every problem with its path inside `params`, so a
suite reports them all at once. `apply(model, params, ctx)` returns an `Applied`: the
model with exactly the weights to train requiring grad, plus what the training loop needs
beyond that (parameter groups with their own learning rates, a schedule, a per-step hook)
and `info`, the evidence that the method really ran, which goes into the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ValidationError

from harness.errors import Problem, explain

if TYPE_CHECKING:  # torch is imported only by apply()
    import torch


@dataclass(frozen=True)
class ApplyContext:
    """What a method may need to know about the run it is applied for."""

    steps: int = 0  # optimizer steps the loop will take (schedules, unfreezing plans)
    device: str = "cpu"
    labels: tuple[str, ...] | None = None  # classification training: the classes, in order (linear_probe)
    family: str = "causal"  # the model's family (harness/models/family.py): peft's task type follows it


@dataclass
class ParamGroup:
    name: str  # e.g. "block 3", "head"; shown in the record with its learning rate
    params: list["torch.nn.Parameter"]
    lr_scale: float = 1.0  # this group's rate is the run's learning_rate times this


@dataclass
class Applied:
    """A method applied to a model: what the training loop and the record get."""

    model: "torch.nn.Module"
    info: dict[str, Any] = field(default_factory=dict)  # evidence the method ran, for the record
    param_groups: list[ParamGroup] | None = None  # None: one group, every trainable parameter
    # step (0-based) -> multiplier of each group's rate; replaces the suite's schedule (STLR).
    lr_lambda: Callable[[int], float] | None = None
    # Called before optimizer step `step` (1-based), e.g. to unfreeze a block; may return a
    # short note for the record's event list.
    on_step: Callable[[int], str | None] | None = None


@dataclass(frozen=True)
class Method:
    name: str  # its help is its registration's (harness/catalog.py), written once
    params_model: type[BaseModel]
    # (model, params, ctx) -> Applied, with only the weights to train requiring grad.
    apply: Callable[["torch.nn.Module", BaseModel, ApplyContext], Applied]
    trains: bool = True  # False for the baseline: no training loop at all
    # Keyword arguments for from_pretrained when this method needs the weights loaded in a
    # special way (qlora: a BitsAndBytesConfig); built-in models get the same treatment in apply.
    load_kwargs: Callable[[BaseModel], dict[str, Any]] | None = None
    # Train settings this method works well with, used where the suite does not set them.
    train_defaults: dict[str, Any] = field(default_factory=dict)
    # The optimizer a stage's `optimizer: auto` means on a GPU (qlora: paged_adamw_32bit);
    # None: AdamW everywhere (harness/train/optimizers.py).
    gpu_optimizer: str | None = None
    # Extra checks beyond the pydantic model (e.g. keys forwarded to a library config).
    extra_check: Callable[[dict[str, Any]], list[Problem]] | None = None

    def validate(self, params: dict[str, Any]) -> list[Problem]:
        """Every problem in `params`, each with its path below params (e.g. 'r')."""
        problems: list[Problem] = []
        try:
            self.params_model.model_validate(params)
        except ValidationError as err:
            known = list(self.params_model.model_fields)
            for e in err.errors():
                problems.append(Problem(".".join(str(p) for p in e["loc"]), explain(e, known)))
        if self.extra_check is not None:
            problems += self.extra_check(params)
        return problems

    def parse(self, params: dict[str, Any]) -> BaseModel:
        return self.params_model.model_validate(params)


def count_parameters(model: "torch.nn.Module", also_trained: list["torch.nn.Parameter"] = ()) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared weights (tied embeddings) count once.

    also_trained: parameters frozen now but trained later (gradual unfreezing), counted
    as trainable."""
    later = {id(p) for p in also_trained}
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        # bitsandbytes 4-bit weights pack two values per byte of their storage type (uint8
        # by default, wider for FSDP); the same count as peft's get_nb_trainable_parameters.
        if getattr(p, "quant_state", None) is not None:
            n *= 2 * p.element_size()
        total += n
        if p.requires_grad or id(p) in later:
            trainable += n
    return trainable, total
