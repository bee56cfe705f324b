"""The LoRA family through peft: LoRA and DoRA (trainable low-rank updates on the chosen
linear layers, base frozen). QLoRA (qlora.py) reuses LoraParams on a 4-bit base.

The common fields are typed and checked here without importing peft; any other field of
peft's LoraConfig can be passed in params too (checked against LoraConfig's own fields by
the shared plumbing in peft_methods.py). To add a LoRA variant that is a LoraConfig switch,
add one `peft_method` call below with the switch in `fixed`.
"""

from __future__ import annotations

from pydantic import Field

from harness.methods.peft_methods import PeftParams, peft_method


class LoraParams(PeftParams):
    r: int = Field(8, gt=0)
    lora_alpha: float = Field(16, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    # "all-linear": every linear layer but the output head, the QLoRA paper's choice.
    target_modules: str | list[str] = "all-linear"


# Hu et al. (2021) trained GPT-2 on E2E at 2e-4 with AdamW; peft's examples use 1e-4 to 3e-4.
LORA_RATE = {"learning_rate": 2.0e-4}

LORA = peft_method("lora", "LoraConfig", LoraParams, LORA_RATE)

# Liu et al. (2024) train DoRA with LoRA's hyperparameters: the magnitude vector starts at
# the base weights' column norms, so the model starts as the base, as with LoRA.
DORA = peft_method("dora", "LoraConfig", LoraParams, LORA_RATE, fixed={"use_dora": True})
