"""Partial fine-tuning: only the top N transformer blocks train (and, by choice, the head
and every norm layer), or only the parameters whose names match given patterns; the rest
stays frozen. The ULMFiT options (layerwise.py) apply to the trainable groups.
"""

from __future__ import annotations

import fnmatch

from pydantic import Field, model_validator

from harness.errors import HarnessError
from harness.methods.base import Applied, Method
from harness.methods.layerwise import LayerwiseOptions, apply_layerwise, layer_groups


class FreezeParams(LayerwiseOptions):
    top_blocks: int | None = Field(None, gt=0)  # train the top N blocks (default 2 without patterns)
    patterns: list[str] | None = Field(None, min_length=1)  # fnmatch on parameter names, e.g. "*.mlp.*"
    train_head: bool = True  # the output layer and final norm (with top_blocks)
    train_norms: bool = False  # every norm layer: cheap, and often worth it

    @model_validator(mode="after")
    def _one_selection(self):
        if self.top_blocks is not None and self.patterns is not None:
            raise ValueError("give top_blocks or patterns, not both")
        return self


def _is_norm(module) -> bool:
    return type(module).__name__.lower().endswith("norm")


def _apply(model, params: FreezeParams, ctx):
    model.requires_grad_(False)
    groups = layer_groups(model)
    blocks = [g for g in groups if g.name.startswith("block ")]
    chosen: set[int] = set()
    if params.patterns is not None:
        names = [n for n, _ in model.named_parameters()]
        matched = {n for n in names if any(fnmatch.fnmatch(n, pat) for pat in params.patterns)}
        if not matched:
            raise HarnessError(f"patterns {params.patterns} match no parameter; names look like {names[:3]} ...")
        chosen |= {id(p) for n, p in model.named_parameters() if n in matched}
    else:
        top = params.top_blocks or 2
        if top > len(blocks):
            raise HarnessError(f"top_blocks={top} but the model has {len(blocks)} blocks")
        chosen |= {id(p) for g in blocks[len(blocks) - top :] for p in g.params}
        if params.train_head:
            chosen |= {id(p) for g in groups if g.name == "head" for p in g.params}
    if params.train_norms:
        chosen |= {id(p) for m in model.modules() if _is_norm(m) for p in m.parameters(recurse=False)}

    for g in groups:  # keep each layer group, but only its trainable parameters
        g.params = [p for p in g.params if id(p) in chosen]
    groups = [g for g in groups if g.params]
    for g in groups:
        for p in g.params:
            p.requires_grad_(True)
    layered = apply_layerwise(groups, params, ctx.steps)
    info = {"trainable_groups": [g.name for g in groups], "frozen_blocks": len(blocks) - sum(g.name.startswith("block ") for g in groups)}
    return Applied(model, info={**info, **layered["info"]}, **layered["fields"])


FREEZE = Method(
    name="freeze",
    params_model=FreezeParams,
    apply=_apply,
    # Fewer weights move than in full fine-tuning, so a somewhat higher rate is safe.
    train_defaults={"learning_rate": 5.0e-5})
