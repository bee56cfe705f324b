"""What a loaded model allows the fast paths to do, asked in one place by training
(harness/train/objectives.py), scoring (harness/evaluate/loglik.py) and decoding
(harness/evaluate/decode.py, generation.py).

Two things decide it. Whether the model is a decoder: an encoder-decoder's logits belong to
its decoder's own positions. And peft's virtual tokens: prompt tuning and P-tuning put
them before the input as embeddings ("inputs": every real token's position shifts, and the
logits hold the virtual positions too), prefix tuning puts them in the key-value cache the
model starts from ("cache": positions stay, but a cache of one's own cannot be passed).
"""

from __future__ import annotations

import inspect

_VIRTUAL = {"PROMPT_TUNING": "inputs", "P_TUNING": "inputs", "PREFIX_TUNING": "cache"}


def unwrapped(model):
    """The model under DistributedDataParallel's wrapper, and under peft's the base model."""
    inner = getattr(model, "module", model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def virtual_tokens(model) -> str | None:
    """Where peft's virtual tokens go: "inputs", "cache", or None (no virtual tokens)."""
    config = getattr(getattr(model, "module", model), "active_peft_config", None)
    return _VIRTUAL.get(getattr(getattr(config, "peft_type", None), "value", None)) if config is not None else None


def is_encoder_decoder(model) -> bool:
    return bool(getattr(getattr(unwrapped(model), "config", None), "is_encoder_decoder", False))


def keeps_logits(model) -> bool:
    """Whether the model computes logits at chosen positions only (transformers'
    logits_to_keep, positions per row or a boolean mask) at its tokens' own positions: the
    output head over a 49k-token vocabulary at every position is a fifth of SmolLM2-135M's
    forward pass, and a loss or a score reads a few positions of each row."""
    if is_encoder_decoder(model) or virtual_tokens(model) == "inputs":
        return False
    return "logits_to_keep" in inspect.signature(unwrapped(model).forward).parameters
