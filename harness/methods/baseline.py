"""The baseline: the model as loaded, no tuning. Every suite gets one per model, and one per
k of `baselines: {shots: [...]}` that prompts with k training examples (harness/evaluate/shots.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.methods.base import Applied, Method


class BaselineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shots: int = Field(default=0, ge=0)  # in-context examples before each generation prompt


def _apply(model, params, ctx):
    model.requires_grad_(False)
    return Applied(model)


BASELINE = Method(name="baseline", params_model=BaselineParams, apply=_apply, trains=False)
