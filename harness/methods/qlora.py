"""QLoRA (Dettmers et al., 2023): LoRA on a base whose linear layers are stored in 4 bits
(bitsandbytes NF4 with double quantization), base frozen. The 4-bit weights are unpacked to
the compute dtype for each matmul: by default bf16 where the hardware has it natively (as
in the paper), else fp16 on a GPU and fp32 on a CPU, where emulated bf16 matmuls are ten
times slower (45 s against 4 s a step on a 2-core AMD EPYC without AVX-512).

Two ways in, one result. A model read with from_pretrained (hub id, local folder) is
quantized while it loads: `load_kwargs` hands the loader a BitsAndBytesConfig. A model that
arrives already built in full precision (the built-in tiny model) is quantized by `apply`:
every nn.Linear but the output head becomes a bitsandbytes Linear4bit holding the same
weights, quantized by the same bitsandbytes call from_pretrained makes, so both ways give
the same 4-bit weights bit for bit (tests/methods check it). Then peft's
prepare_model_for_kbit_training and LoRA, as for any k-bit model.

bitsandbytes runs these layers on CPU too (slower than on a GPU, same numbers). To add a
setting, add a typed field to QloraParams, name it in OWN_FIELDS and use it in
`bnb_config` and `quantize_linear_layers`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from harness.errors import HarnessError
from harness.methods.lora import LORA_RATE, LoraParams
from harness.methods.peft_methods import peft_method

log = logging.getLogger(__name__)

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
INSTALL = "pip install 'harness[qlora]'"


def _bnb():
    """bitsandbytes, an optional dependency: missing, a HarnessError names the extra that installs it."""
    try:
        import bitsandbytes
    except ImportError:
        raise HarnessError(f"method qlora needs bitsandbytes, which is not installed here: {INSTALL}") from None
    return bitsandbytes


class QloraParams(LoraParams):
    quant_type: Literal["nf4", "fp4"] = "nf4"  # nf4: the paper's normal-float code for normally distributed weights
    double_quant: bool = True  # quantize the per-block scales too: about 0.4 bit per weight saved
    compute_dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: see compute_dtype() below
    # Off by default so that memory compares with LoRA's on the quantization alone.
    gradient_checkpointing: bool = False


# Settings QLoRA consumes itself; the rest of QloraParams goes to peft's LoraConfig.
OWN_FIELDS = ("quant_type", "double_quant", "compute_dtype", "gradient_checkpointing")


def compute_dtype(name: str):
    """The torch dtype for a compute_dtype setting; auto: bf16 where it is native, else fp16
    on a GPU, fp32 on a CPU. The record's method_info says which one ran."""
    import torch

    if name == "auto":
        from harness.models.precision import bf16_supported

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        name = "bf16" if bf16_supported(device) else "fp16" if device.type == "cuda" else "fp32"
    return getattr(torch, DTYPES[name])


def bnb_config(params: QloraParams):
    from transformers import BitsAndBytesConfig

    _bnb()  # transformers would fail on it deep inside from_pretrained

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=params.quant_type,
        bnb_4bit_use_double_quant=params.double_quant,
        bnb_4bit_compute_dtype=compute_dtype(params.compute_dtype),
    )


def load_kwargs(params: QloraParams) -> dict[str, Any]:
    return {"quantization_config": bnb_config(params)}


def quantize_linear_layers(model, quant_type: str, double_quant: bool, compute_dtype) -> int:
    """Replace every nn.Linear but the output head by a bitsandbytes Linear4bit with the same
    weights; returns how many were replaced.

    transformers' own replace_with_bnb_linear only builds empty layers for weights still to
    be loaded, so it cannot convert a model that is already in memory.
    """
    bnb = _bnb()
    import torch

    # The head stays in full precision, as from_pretrained keeps it: it is small next to
    # the blocks and its rounding errors would land directly on the logits.
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear or child is head:
                continue
            device = child.weight.device
            layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                      compute_dtype=compute_dtype, compress_statistics=double_quant,
                                      quant_type=quant_type, device="meta")
            layer.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, compress_statistics=double_quant,
                                             quant_type=quant_type, module=layer)
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            # Params4bit quantizes when it is moved to a device, as from_pretrained's loader does.
            setattr(parent, name, layer.to(device).train(child.training))
            replaced += 1
    if not replaced:
        raise HarnessError(f"{type(model).__name__}: no nn.Linear layer to quantize (only the output head, or Conv1D layers)")
    return replaced


def _prepare(model, params: QloraParams):
    bnb = _bnb()
    from peft import prepare_model_for_kbit_training

    if not any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules()):  # else quantized while loading
        count = quantize_linear_layers(model, params.quant_type, params.double_quant, compute_dtype(params.compute_dtype))
        log.info("quantized %d linear layers to 4-bit %s in place", count, params.quant_type)
    # What from_pretrained sets on a 4-bit model: peft reads it to pick its 4-bit LoRA layers.
    model.is_loaded_in_4bit = True
    # Freezes the base and casts any fp16/bf16 non-4-bit weights (norms, head) to fp32 for
    # stable training; the model here is fp32 already, so on CPU it changes nothing.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=params.gradient_checkpointing)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        # On CPUs with avx512_bf16, bitsandbytes repacks a layer's weight for a faster kernel
        # at its first forward pass in eval mode without grad (a validation check, say), and
        # uses that kernel from then on, in training too; it does not pass gradients back to
        # the input, so every LoRA layer below would silently stop learning.
        layer.support_avx512bf16_for_cpu = False
    weight = layers[0].weight
    # What the layers really hold, not what was asked for: a loaded checkpoint may differ.
    compute = layers[0].compute_dtype
    return model, {
        "4bit_layers": len(layers),
        "quant_type": weight.quant_type,
        "double_quant": bool(weight.compress_statistics),
        "compute_dtype": str(compute).removeprefix("torch.") if compute is not None else "input dtype",
    }


QLORA = peft_method("qlora", "LoraConfig", QloraParams,
    # The paper keeps LoRA's rates (1e-4 to 2e-4); only the base's storage changes.
    LORA_RATE, own_fields=OWN_FIELDS, prepare=_prepare, load_kwargs=load_kwargs,
    # Paged AdamW, the paper's third technique: optimizer state pages to the CPU instead of
    # running out of GPU memory on a long batch. bitsandbytes pages on CUDA only.
    gpu_optimizer="paged_adamw_32bit")
