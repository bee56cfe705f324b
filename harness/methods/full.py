"""Full fine-tuning: every weight trains."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from harness.methods.base import Applied, Method


class FullParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _apply(model, params, ctx):
    model.requires_grad_(True)
    return Applied(model)


FULL = Method(
    name="full",
    help="every weight trains",
    params_model=FullParams,
    apply=_apply,
    # Full fine-tuning moves every weight: a rate ten times below LoRA's keeps it stable.
    train_defaults={"learning_rate": 2.0e-5},
)
