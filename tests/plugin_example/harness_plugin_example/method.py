"""bias_only: every weight frozen except parameters whose name ends with "bias" or contains
"norm" (biases and norm weights; a Llama has RMSNorm weights and no biases)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from harness.errors import HarnessError
from harness.methods.base import Applied, Method


class BiasOnlyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def trains(name: str) -> bool:
    return name.endswith("bias") or "norm" in name


def _apply(model, params: BiasOnlyParams, ctx):
    model.requires_grad_(False)
    chosen = {name for name, _ in model.named_parameters() if trains(name)}
    if not chosen:
        raise HarnessError("bias_only: the model has no bias or norm parameters to train")
    for name, p in model.named_parameters():
        if name in chosen:
            p.requires_grad_(True)
    return Applied(model, info={"trained_parameters": len(chosen)})


BIAS_ONLY = Method(
    name="bias_only",
    params_model=BiasOnlyParams,
    apply=_apply,
    train_defaults={"learning_rate": 1e-3},
)
