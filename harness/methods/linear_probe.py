"""Linear probe (feature-based transfer): the base model frozen, a linear head trained on
its pooled last hidden states, for classification tasks (train.label names the class column).

The base runs under no_grad (its features are fixed), so a probe trains fast and light.
Pooling is the mean over the text's tokens, or the last token's state (the one a decoder
has read everything by).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.errors import HarnessError
from harness.methods.base import Applied, Method


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pooling: Literal["mean", "last"] = "mean"
    # Standardise each pooled vector (layer norm without weights): hidden states of
    # pretrained models have a few huge dimensions that make a plain head train erratically.
    normalize: bool = True


def _probe_class():
    import torch
    import torch.nn.functional as F

    class ProbeModel(torch.nn.Module):
        """A frozen base and a linear head; forward returns .loss and .logits like a HF model."""

        def __init__(self, base, labels: tuple[str, ...], pooling: str, normalize: bool):
            super().__init__()
            self.base, self.labels, self.pooling, self.normalize = base, list(labels), pooling, normalize
            self.head = torch.nn.Linear(base.config.hidden_size, len(labels))

        def features(self, input_ids, attention_mask):
            with torch.no_grad():
                hidden = self.base.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if self.pooling == "mean":
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            else:
                pooled = hidden[torch.arange(len(hidden)), attention_mask.sum(1) - 1]  # right padding
            pooled = pooled.float()
            return F.layer_norm(pooled, pooled.shape[-1:]) if self.normalize else pooled

        def forward(self, input_ids, attention_mask, labels=None, **_):
            logits = self.head(self.features(input_ids, attention_mask))
            loss = F.cross_entropy(logits, labels) if labels is not None else None
            return SimpleNamespace(loss=loss, logits=logits)

        def generate(self, *args, **kwargs):  # generation evals see the untouched base
            return self.base.generate(*args, **kwargs)

    return ProbeModel


def _apply(model, params: ProbeParams, ctx):
    if not ctx.labels:
        raise HarnessError("linear_probe trains a classifier: set train.label to the column holding the class")
    model.requires_grad_(False)
    probe = _probe_class()(model, ctx.labels, params.pooling, params.normalize).to(next(model.parameters()).device)
    return Applied(probe, info={"labels": list(ctx.labels), "pooling": params.pooling, "normalize": params.normalize,
                                "head": f"{model.config.hidden_size} -> {len(ctx.labels)}"})


LINEAR_PROBE = Method(
    name="linear_probe",
    params_model=ProbeParams,
    apply=_apply,
    # Only a fresh linear layer trains: a large rate is safe and converges in few steps.
    train_defaults={"learning_rate": 1.0e-2, "schedule": "constant"})


# What `save: true` writes for a probe (harness/run/saved.py): its head, and the settings and
# classes that rebuild the probe around the base it was trained on (`load_saved`).
SAVED_CONFIG = "linear_probe.json"
SAVED_WEIGHTS = "linear_probe.safetensors"


def save(probe, folder) -> list[str]:
    """Write the probe's head and settings into `folder`; the names of the files written."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    folder = Path(folder)
    save_file({n: p.detach().cpu().contiguous() for n, p in probe.head.named_parameters()},
              str(folder / SAVED_WEIGHTS), metadata={"format": "pt"})
    config = {"method": "linear_probe", "labels": list(probe.labels), "pooling": probe.pooling,
              "normalize": probe.normalize, "hidden_size": probe.head.in_features}
    (folder / SAVED_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return [SAVED_CONFIG, SAVED_WEIGHTS]


def load_saved(base_model, folder):
    """The probe saved in `folder` on `base_model` (the model it was trained on, as loaded:
    `harness.models.load(name, ".")[0]`, or from_pretrained of its folder), in eval mode.
    Its forward(input_ids, attention_mask) returns .logits over .labels, in that order."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / SAVED_CONFIG).is_file() or not (folder / SAVED_WEIGHTS).is_file():
        raise HarnessError(f"{folder}: no {SAVED_CONFIG} and {SAVED_WEIGHTS}, so no saved linear probe")
    config = json.loads((folder / SAVED_CONFIG).read_text(encoding="utf-8"))
    if base_model.config.hidden_size != config["hidden_size"]:
        raise HarnessError(f"{folder}: the probe reads {config['hidden_size']} features, but this base model has "
                           f"{base_model.config.hidden_size}: is it the model it was trained on?")
    base_model.requires_grad_(False)
    device = next(base_model.parameters()).device
    probe = _probe_class()(base_model, tuple(config["labels"]), config["pooling"], config["normalize"]).to(device)
    probe.head.load_state_dict(load_file(str(folder / SAVED_WEIGHTS), device=str(device)))
    return probe.eval()
