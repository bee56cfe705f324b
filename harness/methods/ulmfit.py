"""ULMFiT (Howard and Ruder, 2018): full fine-tuning with discriminative learning rates
(factor 2.6), the slanted triangular schedule (cut_frac 0.1, ratio 32) and gradual
unfreezing, all three on by default (layerwise.py has the formulas)."""

from __future__ import annotations

from pydantic import Field

from harness.methods.base import Method
from harness.methods.full import apply_full
from harness.methods.layerwise import STLR, LayerwiseOptions


class UlmfitParams(LayerwiseOptions):
    discriminative: float | None = Field(2.6, gt=0)
    slanted_triangular: STLR | None = STLR()
    gradual_unfreezing: bool = True


ULMFIT = Method(
    name="ulmfit",
    params_model=UlmfitParams,
    apply=apply_full,  # full fine-tuning with these options on
    # The peak rate of the top group; lower groups get it divided by 2.6 per group.
    train_defaults={"learning_rate": 1.0e-4})
