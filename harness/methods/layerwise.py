"""Layer groups of a transformer, and the three ULMFiT techniques built on them.

Howard and Ruder (2018), "Universal Language Model Fine-tuning for Text Classification":
- discriminative fine-tuning: each group's rate is the one above it divided by a factor
  (2.6 in the paper), eta^(l-1) = eta^l / 2.6;
- slanted triangular learning rates (STLR): a short linear warm-up to the peak over the
  first cut_frac of the steps, then a long linear decay; the lowest rate is 1/ratio of the
  peak;
- gradual unfreezing: only the top group trains at first, and one more group below it is
  unfrozen at the start of each stage.

Groups, bottom to top: the embeddings, each transformer block, then the head (the output
layer with the final norm). `full`, `freeze` and `ulmfit` share these; any method can.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import HarnessError
from harness.methods.base import ParamGroup


class STLR(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cut_frac: float = Field(0.1, gt=0, lt=1)  # fraction of steps spent increasing the rate
    ratio: float = Field(32, ge=1)  # how much smaller the lowest rate is than the peak


class LayerwiseOptions(BaseModel):
    """The ULMFiT options, each off by default (the ulmfit method turns all three on)."""

    model_config = ConfigDict(extra="forbid")
    discriminative: float | None = Field(None, gt=0)  # factor between adjacent groups' rates (paper: 2.6)
    slanted_triangular: STLR | None = None  # replaces the suite's schedule
    gradual_unfreezing: bool = False
    unfreeze_every: int | None = Field(None, gt=0)  # steps per stage; default: the steps spread evenly


def transformer_blocks(model) -> tuple[str, list]:
    """(names of the ModuleLists, their blocks bottom to top): the longest list of same-type
    modules, and every other list of that same block type, in registration order, so an
    encoder-decoder's blocks are the encoder's then the decoder's."""
    import torch

    stacks: list[tuple[str, list, type]] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module):
            kinds = {type(child) for child in module}
            if len(kinds) == 1:
                stacks.append((name, list(module), kinds.pop()))
    if not stacks:
        raise HarnessError(f"{type(model).__name__}: found no stack of transformer blocks to group")
    longest = max(stacks, key=lambda s: len(s[1]))  # the first of the longest, as registered
    same = [s for s in stacks if s[2] is longest[2]]
    return "+".join(name for name, _, _ in same), [block for _, blocks, _ in same for block in blocks]


def layer_groups(model) -> list[ParamGroup]:
    """Embeddings, block 0 .. block n-1, head: every parameter in exactly one group.

    Parameters outside the blocks are placed by position: those registered before the
    first block are the embeddings, those after (final norm, output layer) the head. Tied
    input/output embeddings come first, so they stay with the embeddings.
    """
    _, blocks = transformer_blocks(model)
    in_block = {id(p): i for i, block in enumerate(blocks) for p in block.parameters()}
    groups = [ParamGroup("embeddings", [])] + [ParamGroup(f"block {i}", []) for i in range(len(blocks))] + [ParamGroup("head", [])]
    seen: set[int] = set()
    past_blocks = False
    for p in model.parameters():  # registration order, shared parameters once
        if id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in in_block:
            groups[1 + in_block[id(p)]].params.append(p)
            past_blocks = True
        else:
            groups[-1 if past_blocks else 0].params.append(p)
    return [g for g in groups if g.params]


def discriminative_scales(n_groups: int, factor: float) -> list[float]:
    """Bottom to top: the top group at 1, each lower one divided by `factor` once more."""
    return [factor ** -(n_groups - 1 - k) for k in range(n_groups)]


def stlr_lambda(total_steps: int, cut_frac: float, ratio: float) -> Callable[[int], float]:
    """The paper's eq. 3 as a multiplier of the peak rate; t counts from 0 (the first step)."""
    cut = max(1, math.floor(total_steps * cut_frac))

    def multiplier(t: int) -> float:
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        return (1 + max(p, 0.0) * (ratio - 1)) / ratio

    return multiplier


def unfreezing_plan(n_groups: int, steps: int, every: int | None) -> list[int]:
    """The 1-based step at which each group starts training, top group first (index = groups from the top)."""
    every = every or max(1, math.ceil(steps / n_groups))
    return [1 + k * every for k in range(n_groups)]


def apply_layerwise(groups: list[ParamGroup], options: LayerwiseOptions, steps: int) -> dict[str, Any]:
    """Scales the groups' rates and returns the Applied fields (lr_lambda, on_step) and the info."""
    fields: dict[str, Any] = {"param_groups": groups}
    info: dict[str, Any] = {"groups": [g.name for g in groups]}
    if options.discriminative is not None:
        for g, scale in zip(groups, discriminative_scales(len(groups), options.discriminative)):
            g.lr_scale = scale
        info["discriminative_factor"] = options.discriminative
    if options.slanted_triangular is not None:
        st = options.slanted_triangular
        fields["lr_lambda"] = stlr_lambda(steps, st.cut_frac, st.ratio)
        info["slanted_triangular"] = st.model_dump()
    if options.gradual_unfreezing:
        starts = unfreezing_plan(len(groups), steps, options.unfreeze_every)
        top_down = list(reversed(groups))
        for g in groups:
            for p in g.params:
                p.requires_grad_(False)
        info["unfreezing"] = [{"from_step": s, "group": g.name} for s, g in zip(starts, top_down) if s <= max(steps, 1)]

        def on_step(step: int) -> str | None:
            for start, g in zip(starts, top_down):
                if step == start:
                    for p in g.params:
                        p.requires_grad_(True)
                    return f"unfroze {g.name}"
            return None

        fields["on_step"] = on_step
    return {"fields": fields, "info": info}
