"""Bottleneck adapters (Houlsby et al., 2019; Pfeiffer et al., 2021), base frozen.

An adapter is a small residual MLP, h + up(act(down(h))), from the model's width down to a
bottleneck and back. The up-projection starts at zero, so right after `apply` the model
computes exactly what the base computes, and training moves it away from there. Houlsby
puts one after the attention output and one after the MLP of every block (where=[attn,
mlp]); Pfeiffer only after the MLP (where=[mlp]). Both sit before the block's residual add.

Each adapted sublayer (a block's attention or MLP module) is wrapped in `Adapted`, which
runs the sublayer and passes its output through the adapter; attention modules return a
tuple (output, weights), and only the output goes through. Blocks are found generically
(the longest stack of same-type modules, as layerwise.py does), their sublayers by the
usual names. To support another architecture, add its sublayer names to SUBLAYER_NAMES.
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import HarnessError
from harness.methods.base import Applied, Method

# Attribute names of a block's attention and MLP sublayers: Llama, Mistral, Qwen, ...
# use self_attn/mlp; GPT-2 uses attn/mlp; Falcon and GPT-NeoX use *attention.
# Paths inside a block, first found wins. BERT's attention and feed-forward outputs end in a
# dense projection followed by dropout, the residual add and LayerNorm: the adapter goes
# right after the projection, before the residual add, where Houlsby et al. put it.
SUBLAYER_NAMES = {"attn": ("self_attn", "attn", "attention.output.dense", "attention", "self_attention"),
                  "mlp": ("mlp", "feed_forward", "output.dense")}


class AdapterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bottleneck: int | None = Field(None, gt=0)  # adapter width; default 16 unless reduction_factor is given
    reduction_factor: float | None = Field(None, gt=0)  # or: width = hidden size / this (Pfeiffer's 16)
    where: list[Literal["attn", "mlp"]] = Field(["attn", "mlp"], min_length=1)  # [attn, mlp]: Houlsby; [mlp]: Pfeiffer
    nonlinearity: Literal["relu", "gelu", "silu"] = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)  # on the bottleneck activations

    @model_validator(mode="after")
    def _one_width(self):
        if self.bottleneck is not None and self.reduction_factor is not None:
            raise ValueError("give bottleneck or reduction_factor, not both")
        if len(set(self.where)) != len(self.where):
            raise ValueError(f"where lists a place twice: {self.where}")
        return self


@functools.cache
def _torch_classes():
    """The two torch modules, built once on first use so this file imports without torch."""
    import torch

    class BottleneckAdapter(torch.nn.Module):
        def __init__(self, hidden: int, bottleneck: int, nonlinearity: str, dropout: float):
            super().__init__()
            self.down = torch.nn.Linear(hidden, bottleneck)
            self.act = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "silu": torch.nn.SiLU}[nonlinearity]()
            self.dropout = torch.nn.Dropout(dropout)
            self.up = torch.nn.Linear(bottleneck, hidden)
            torch.nn.init.zeros_(self.up.weight)  # the adapted model starts as the base model
            torch.nn.init.zeros_(self.up.bias)

        def forward(self, h):
            return h + self.up(self.dropout(self.act(self.down(h))))

    class Adapted(torch.nn.Module):
        """A sublayer followed by an adapter; attributes not found here are the sublayer's,
        so code that reads, say, `self_attn.layer_idx` still finds it."""

        def __init__(self, sublayer: torch.nn.Module, adapter: torch.nn.Module):
            super().__init__()
            self.sublayer = sublayer
            self.adapter = adapter

        def forward(self, *args, **kwargs):
            out = self.sublayer(*args, **kwargs)
            if isinstance(out, tuple):  # attention: (output, weights, ...)
                return (self.adapter(out[0]), *out[1:])
            return self.adapter(out)

        def __getattr__(self, name: str):
            try:
                return super().__getattr__(name)
            except AttributeError:
                modules = self.__dict__.get("_modules", {})
                if "sublayer" not in modules:  # half-built (unpickling): nothing to delegate to
                    raise
                return getattr(modules["sublayer"], name)

    for cls in (BottleneckAdapter, Adapted):  # so pickle finds them through __getattr__ below
        cls.__qualname__, cls.__module__ = cls.__name__, __name__
    return BottleneckAdapter, Adapted


def __getattr__(name: str):
    """`from harness.methods.adapter import BottleneckAdapter` works, importing torch then."""
    if name in ("BottleneckAdapter", "Adapted"):
        return dict(zip(("BottleneckAdapter", "Adapted"), _torch_classes()))[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _hidden_size(model) -> int:
    config = getattr(model, "config", None)
    for key in ("hidden_size", "n_embd", "d_model"):
        if isinstance(getattr(config, key, None), int):
            return getattr(config, key)
    raise HarnessError(f"{type(model).__name__}: its config names no hidden size (hidden_size, n_embd or d_model)")


def _sublayer(block, place: str) -> str:
    for name in SUBLAYER_NAMES[place]:
        try:
            block.get_submodule(name)
        except AttributeError:
            continue
        return name
    raise HarnessError(f"{type(block).__name__}: no {place} sublayer at {' or '.join(SUBLAYER_NAMES[place])} "
                     f"(its children: {', '.join(block._modules)}); adapters do not support this architecture yet")


def _apply(model, params: AdapterParams, ctx) -> Applied:
    from harness.methods.layerwise import transformer_blocks

    BottleneckAdapter, Adapted = _torch_classes()
    hidden = _hidden_size(model)
    if params.reduction_factor is not None:
        bottleneck = max(1, round(hidden / params.reduction_factor))
    else:
        bottleneck = params.bottleneck or 16
    model.requires_grad_(False)
    _, blocks = transformer_blocks(model)
    reference = next(model.parameters())
    count = 0
    for block in blocks:
        for place in params.where:
            name = _sublayer(block, place)
            parent_name, _, child = name.rpartition(".")
            parent = block.get_submodule(parent_name) if parent_name else block
            adapter = BottleneckAdapter(hidden, bottleneck, params.nonlinearity, params.dropout)
            wrapped = Adapted(parent._modules[child], adapter.to(device=reference.device, dtype=reference.dtype))
            # New modules start in training mode; in an eval-mode model their dropout would fire.
            setattr(parent, child, wrapped.train(block.training))
            count += 1
    info = {"adapters": count, "bottleneck": bottleneck, "where": list(params.where)}
    if ctx.family == "encoder":  # a classifier's head is new: it trains with the adapters, as in Houlsby et al.
        from harness.methods.layerwise import layer_groups

        head = layer_groups(model)[-1]
        for p in head.params:
            p.requires_grad_(True)
        info["trained_head"] = sum(p.numel() for p in head.params)
    return Applied(model, info=info)


ADAPTER = Method(
    name="adapter",
    params_model=AdapterParams,
    apply=_apply,
    # Adapters start as the identity like LoRA and have a similar share of weights; Houlsby
    # et al. searched 3e-5 to 3e-3, and short runs want the upper half of that range.
    train_defaults={"learning_rate": 5.0e-4})


# What `save: true` writes for bottleneck adapters (harness/run/saved.py): the tensors that
# trained, under their names in the adapted model, and the settings that rebuild the modules
# they belong to. transformers and peft know nothing of these modules: `load_saved` puts them back.
SAVED_CONFIG = "bottleneck_adapters.json"
SAVED_WEIGHTS = "bottleneck_adapters.safetensors"


def save(model, folder, params: AdapterParams, family: str = "causal") -> list[str]:
    """Write the adapted model's trained tensors (the adapters; an encoder's head too) and the
    settings that rebuild the adapters into `folder`; the names of the files written."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    folder = Path(folder)
    tensors = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    if not tensors:
        raise HarnessError("bottleneck adapters: the model has no trainable tensor to save (was the method applied?)")
    save_file(tensors, str(folder / SAVED_WEIGHTS), metadata={"format": "pt"})
    config = {"method": "adapter", "params": params.model_dump(mode="json"), "family": family,
              "tensors": len(tensors), "values": sum(t.numel() for t in tensors.values())}
    (folder / SAVED_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return [SAVED_CONFIG, SAVED_WEIGHTS]


def load_saved(base_model, folder):
    """The base model with the saved bottleneck adapters of `folder` put back: the model the
    harness trained and evaluated, in eval mode. `base_model` is the model they were trained
    on, as loaded (`harness.models.load(name, ".")[0]`, or from_pretrained of its folder);
    it is changed in place (its sublayers wrapped) and returned."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    from harness.methods.base import ApplyContext

    folder = Path(folder)
    if not (folder / SAVED_CONFIG).is_file() or not (folder / SAVED_WEIGHTS).is_file():
        raise HarnessError(f"{folder}: no {SAVED_CONFIG} and {SAVED_WEIGHTS}, so no saved bottleneck adapters")
    config = json.loads((folder / SAVED_CONFIG).read_text(encoding="utf-8"))
    params = AdapterParams.model_validate(config["params"])
    model = _apply(base_model, params, ApplyContext(family=config.get("family", "causal"))).model
    reference = next(model.parameters())
    tensors = load_file(str(folder / SAVED_WEIGHTS), device=str(reference.device))
    result = model.load_state_dict(tensors, strict=False)
    missing = [k for k in result.missing_keys if ".adapter." in k]
    if result.unexpected_keys or missing:
        raise HarnessError(f"{folder}: the saved adapters do not fit this base model (unexpected "
                           f"{result.unexpected_keys[:3]}, missing {missing[:3]}): is it the model they were trained on?")
    model.requires_grad_(False)
    return model.eval()
