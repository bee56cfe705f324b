"""LoRA through peft: trainable low-rank updates on the chosen linear layers, base frozen.

The common fields are typed and checked here without importing peft; any other field of
peft's LoraConfig can be passed in params too (checked against LoraConfig's own fields).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import Problem
from harness.methods.base import Applied, Method


class LoraParams(BaseModel):
    # extra keys go to LoraConfig; _check_extra rejects those it does not have.
    model_config = ConfigDict(extra="allow")
    r: int = Field(8, gt=0)
    lora_alpha: float = Field(16, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    # "all-linear": every linear layer but the output head, the QLoRA paper's choice.
    target_modules: str | list[str] = "all-linear"


def _check_extra(params: dict[str, Any]) -> list[Problem]:
    extra = set(params) - set(LoraParams.model_fields)
    if not extra:
        return []
    from peft import LoraConfig

    known = sorted(f.name for f in dataclasses.fields(LoraConfig) if not f.name.startswith("_"))
    problems = []
    for key in sorted(extra - set(known)):
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(Problem(key, f"not a field of peft's LoraConfig{hint}"))
    return problems


def _apply(model, params: LoraParams, ctx):
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(task_type=TaskType.CAUSAL_LM, **params.model_dump())
    return Applied(get_peft_model(model, config))


LORA = Method(
    name="lora",
    help="low-rank adapters (peft LoraConfig), base frozen",
    params_model=LoraParams,
    apply=_apply,
    train_defaults={"learning_rate": 2.0e-4},
    extra_check=_check_extra,
)
