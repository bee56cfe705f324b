"""The baseline: the model as loaded, no tuning. Every suite gets one per model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from harness.methods.base import Method


class BaselineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _apply(model, params):
    model.requires_grad_(False)
    return model


BASELINE = Method(name="baseline", help="the model as loaded", params_model=BaselineParams, apply=_apply, trains=False)
