"""Whether a device computes in bf16 natively: training under precision "auto" and QLoRA's
compute dtype both ask. Emulated bf16 is several times slower than fp32 on CPUs without
avx512_bf16 or AMX, so the answer comes from oneDNN's check of the CPU, not from whether
torch accepts the dtype.
"""

from __future__ import annotations

import torch


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # oneDNN knows whether this CPU has native bf16 (avx512_bf16 / AMX)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
