"""The optimizer a stage names (TrainSpec.optimizer), built over the method's parameter groups.

Each name is a maintained implementation: AdamW and SGD are torch's, the 8-bit and paged
AdamW variants bitsandbytes' (paged: optimizer state in unified memory that pages to the
CPU under memory pressure, the third of QLoRA's techniques), Adafactor transformers'.
"auto" is AdamW, except that a method may name its own choice on a GPU (qlora:
paged_adamw_32bit, as the QLoRA paper's code runs). To add one: a branch in `build` and its
state dtype in `state_dtype`.
"""

from __future__ import annotations

import torch

from harness.errors import HarnessError

SGD_MOMENTUM = 0.9  # plain SGD without momentum barely moves in the few steps a suite takes


def resolve(name: str, method_gpu_choice: str | None, device: torch.device) -> str:
    """The optimizer that runs: the suite's choice, or under auto AdamW (the method's own on a GPU)."""
    if name != "auto":
        return name
    return method_gpu_choice if method_gpu_choice and device.type == "cuda" else "adamw"


def build(name: str, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """The optimizer `name` over torch parameter groups (each with its own lr and weight decay)."""
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=SGD_MOMENTUM)
    if name == "adafactor":
        from transformers.optimization import Adafactor

        # A fixed rate, as the suite sets it: Adafactor's own relative-step schedule off.
        return Adafactor(groups, lr=lr, scale_parameter=False, relative_step=False, warmup_init=False)
    try:
        import bitsandbytes as bnb
    except ImportError:
        raise HarnessError(f"optimizer {name} is bitsandbytes': pip install 'harness[qlora]'") from None
    kinds = {"adamw_8bit": bnb.optim.AdamW8bit, "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
             "paged_adamw_32bit": bnb.optim.PagedAdamW32bit}
    return kinds[name](groups, lr=lr)


def state_dtype(name: str, param_dtype: torch.dtype) -> str:
    """What the optimizer keeps its moments in, for the record."""
    if name in ("adamw_8bit", "paged_adamw_8bit"):
        return "int8 (blockwise quantized)"
    if name == "paged_adamw_32bit":
        return "fp32 (paged)"
    if name == "adafactor":
        return f"{dtype_name(param_dtype)} (factored second moment)"
    return dtype_name(param_dtype)  # torch's AdamW and SGD keep state like the parameter


def dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype).removeprefix("torch."))
