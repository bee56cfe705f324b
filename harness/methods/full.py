"""Full fine-tuning: every weight trains; optionally with the ULMFiT techniques
(discriminative rates, slanted triangular schedule, gradual unfreezing; see layerwise.py)."""

from __future__ import annotations

from harness.methods.base import Applied, Method
from harness.methods.layerwise import LayerwiseOptions, apply_layerwise, layer_groups


class FullParams(LayerwiseOptions):
    """Full fine-tuning has only the ULMFiT options, all off by default."""


def apply_full(model, params: LayerwiseOptions, ctx):
    """Every weight trains; with any ULMFiT option, in layer groups (ulmfit uses this too)."""
    model.requires_grad_(True)
    if params == FullParams():
        return Applied(model)
    layered = apply_layerwise(layer_groups(model), params, ctx.steps)
    return Applied(model, info=layered["info"], **layered["fields"])


FULL = Method(
    name="full",
    params_model=FullParams,
    apply=apply_full,
    # Full fine-tuning moves every weight: a rate ten times below LoRA's keeps it stable.
    train_defaults={"learning_rate": 2.0e-5})
