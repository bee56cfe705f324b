"""The Method protocol and what every method shares: params checking and counting.

A method's params are a pydantic model with extra keys forbidden (unless the method passes
unknown keys on to a library config, as lora does to peft's LoraConfig); `validate`
returns every problem with its path inside `params`, so a suite reports them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ValidationError

from harness.errors import Problem
from harness.spec import explain

if TYPE_CHECKING:  # torch is imported only by apply()
    import torch


@dataclass(frozen=True)
class Method:
    name: str
    help: str
    params_model: type[BaseModel]
    # (model, params) -> model with only the trained weights requiring grad.
    apply: Callable[["torch.nn.Module", BaseModel], "torch.nn.Module"]
    trains: bool = True  # False for the baseline: no training loop at all
    # Train settings this method works well with, used where the suite does not set them.
    train_defaults: dict[str, Any] = field(default_factory=dict)
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


def count_parameters(model: "torch.nn.Module") -> tuple[int, int]:
    """(trainable, total) parameter counts; shared weights (tied embeddings) count once."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        # bitsandbytes 4-bit weights pack two values per byte
        if getattr(p, "quant_state", None) is not None:
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total
