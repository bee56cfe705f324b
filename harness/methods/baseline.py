"""The baseline: the model as loaded, no tuning. Every suite gets one per model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from harness.methods.base import Applied, Method


class BaselineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _apply(model, params, ctx):
    model.requires_grad_(False)
    return Applied(model)


BASELINE = Method(name="baseline", params_model=BaselineParams, apply=_apply, trains=False)
