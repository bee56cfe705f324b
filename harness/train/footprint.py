"""What training holds in memory, and the one switch that trades compute for it.

`tensor_bytes(model, optimizer)` counts, from the tensors themselves, the three parts of
training memory that are not activations: the weights (every parameter and buffer, in the
dtype it is held in: a 4-bit base counts its packed bytes), the gradients (those allocated at
the moment of the count: call it after a backward pass, before they are freed) and the
optimizer's state (every tensor in optimizer.state: Adam's two moments, 8-bit ones at a byte
each). What a peak holds beyond them is activations, the loss's logits, the allocator's
reserve and, on a CPU, the process itself (interpreter and libraries).

`gradient_checkpointing(model)` turns on transformers' activation checkpointing for a
stage: each decoder layer keeps only its input in the forward pass and recomputes the rest
during backward, so activation memory no longer grows with the layer count, for about a
third more compute. It works for every method that trains through the base model (peft's
included: the non-reentrant form needs no input gradients, so frozen embeddings are fine),
and gives the same loss and gradients as without it (tests/train/test_footprint.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from harness.errors import HarnessError


def tensor_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, int]:
    """{"weights", "gradients", "optimizer"}: bytes held by those tensors now (the parts of
    harness/run/memory.py's estimate, under the same names)."""
    seen: set[int] = set()

    def size(t: torch.Tensor) -> int:
        if t.data_ptr() in seen:  # a tied weight (embeddings and output head) is held once
            return 0
        seen.add(t.data_ptr())
        return t.numel() * t.element_size()

    weights = sum(size(p) for p in model.parameters()) + sum(size(b) for b in model.buffers())
    gradients = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    state = 0
    if optimizer is not None:
        for per_param in optimizer.state.values():
            for value in per_param.values():
                if isinstance(value, torch.Tensor):
                    state += value.numel() * value.element_size()
                elif hasattr(value, "absmax") and isinstance(getattr(value, "absmax"), torch.Tensor):
                    state += value.absmax.numel() * value.absmax.element_size()  # bitsandbytes' quantization state
    return {"weights": int(weights), "gradients": int(gradients), "optimizer": int(state)}


def gradient_checkpointing(model: torch.nn.Module) -> Callable[[], None]:
    """Turn activation checkpointing on for `model` (a transformers model, or a peft model
    around one); returns the function that puts it back as it was."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if any(getattr(c, "peft_type", None) == "PREFIX_TUNING" for c in getattr(model, "peft_config", {}).values()):
        raise HarnessError("gradient_checkpointing cannot apply to prefix tuning: its virtual keys and values travel "
                           "in the cache, which transformers drops under checkpointing")
    if not getattr(base, "supports_gradient_checkpointing", False) or not hasattr(base, "gradient_checkpointing_enable"):
        raise HarnessError(f"gradient_checkpointing: {type(base).__name__} does not support it (transformers' "
                           "supports_gradient_checkpointing is off); remove the setting for this model")
    # transformers renamed it activation checkpointing (5.23); the old names warn until v6
    renamed = hasattr(base, "activation_checkpointing_enable")
    was_on = bool(getattr(base, "is_activation_checkpointing" if renamed else "is_gradient_checkpointing", False))
    config = getattr(base, "config", None)
    use_cache = getattr(config, "use_cache", None)
    # Non-reentrant: gradients reach trained weights inside a layer whatever requires grad at
    # its input, and recomputation replays the same random draws (dropout).
    if renamed:
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config is not None and use_cache is not None:
        config.use_cache = False  # a cache built during a checkpointed forward would be thrown away

    def undo() -> None:
        if not was_on:
            (base.activation_checkpointing_disable if renamed else base.gradient_checkpointing_disable)()
        if config is not None and use_cache is not None:
            config.use_cache = use_cache

    return undo
