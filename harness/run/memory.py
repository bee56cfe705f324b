"""How much GPU memory a variant will allocate, estimated before it runs, without torch.

The local executor packs variants onto a GPU while their estimates fit (harness/run/slots.py),
and the record keeps the estimate beside the measured peak (torch.cuda.max_memory_allocated)
so users see how good it is. A suite may state the need instead (resources.gpu_memory).

The estimate is the usual account of training memory, per GPU:
  weights     parameters x bytes of the load dtype (auto on a GPU: bf16 for frozen weights,
              fp32 for trained ones; 4-bit NF4 storage under qlora: 4.5 bits with its block
              constants);
  gradients   trainable parameters x their bytes (adapters are kept in fp32);
  optimizer   trainable parameters x the optimizer's state (AdamW: two moments);
  activations per layer s*b*h*(34 + 5*a*s/h) bytes at 16 bits (Korthikanti et al., 2022,
              "Reducing Activation Recomputation in Large Transformer Models"), doubled in fp32;
              with gradient_checkpointing, each layer's input (s*b*h) and one layer's whole set;
              the loss's logits, s*b*V x 8 bytes (fp32 logits and their gradient); at
              evaluation, fp32 logits of a batch of EVAL_TOKENS positions each.
Trainable parameters follow the method's registration (catalog `trains`): all of them
(full fine-tuning), or a small share for adapters, whose exact count needs the model built.
The shape comes from the model's config.json (a local folder) or its registration (`shape`,
built-in models); a hub model that is not on disk has none here, and no estimate: it then
runs alone on its GPU. The pool adds headroom for the allocator and a CUDA context per
process (harness/run/slots.py); a GPU without bf16 (V100, T4) loads "auto" weights in fp32,
twice what is counted here, so give such a run --gpu-memory with room to spare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import models
from harness.registry import METHODS, MODELS
from harness.suite.variant import Variant

ADAPTER_SHARE = 0.02  # trainable share assumed for adapter methods (LoRA r=8 on a 135M model: 0.7 to 1.4%)
# Optimizer state per trainable parameter, in parameter sizes (torch keeps its moments in the
# parameter's dtype), or in bytes where bitsandbytes fixes them.
STATE_SIZES = {"adamw": 2, "auto": 2, "adafactor": 1, "sgd": 1}
STATE_BYTES = {"adamw_8bit": 2, "paged_adamw_8bit": 2, "paged_adamw_32bit": 8}
WEIGHT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
NF4_BYTES = 4.5 / 8
EVAL_TOKENS = 512  # positions per evaluated example assumed for the scoring logits


@dataclass(frozen=True)
class Estimate:
    bytes: int
    source: str  # "estimate" or "resources.gpu_memory"
    parts: dict[str, int]  # weights, gradients, optimizer, activations (and a preference stage's reference copy)


def shape_of(ref: str, base_dir: Path) -> dict[str, Any] | None:
    """The model's config fields that sizes follow from; None when unknown offline."""
    kind = models.classify(ref, base_dir)
    if kind == "builtin":
        return MODELS.meta(ref, "shape")
    config = models.local_path(ref, base_dir) / "config.json"
    if kind == "local" and config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    return None


def parameters(shape: dict[str, Any]) -> int | None:
    """Parameters of a transformer from its config: embeddings, attention (grouped KV heads
    counted), a gated or plain MLP, the output head unless tied."""
    h = shape.get("hidden_size") or shape.get("d_model")
    layers = shape.get("num_hidden_layers") or shape.get("num_layers")
    vocab = shape.get("vocab_size")
    if not (h and layers and vocab):
        return None
    heads = shape.get("num_attention_heads") or shape.get("num_heads") or 1
    kv = shape.get("num_key_value_heads") or heads
    inter = shape.get("intermediate_size") or shape.get("d_ff") or 4 * h
    mlp = (3 if shape.get("model_type") in (None, "llama", "mistral", "qwen2", "gemma", "t5") else 2) * h * inter
    attention = 2 * h * h + 2 * h * (h * kv // heads)
    head = 0 if shape.get("tie_word_embeddings", True) else vocab * h
    return vocab * h + layers * (attention + mlp + 2 * h) + h + head  # h: the final norm


def estimate(variant: Variant) -> Estimate | None:
    """Bytes this variant allocates on each of its GPUs at its peak, or None when unknown."""
    stated = variant.resources.gpu_memory_bytes
    if stated is not None:
        return Estimate(stated, "resources.gpu_memory", {})
    shape = shape_of(variant.model, Path(variant.base_dir))
    total = parameters(shape) if shape else None
    if shape is None or total is None:
        return None
    trains = METHODS.meta(variant.method, "trains", "all")
    # load_dtype auto on a GPU: bf16 for weights that stay frozen, fp32 for those that train (worker.py)
    dtype = variant.load_dtype if variant.load_dtype != "auto" else ("fp32" if trains == "all" else "bf16")
    weights = total * (NF4_BYTES if METHODS.meta(variant.method, "weight_bits") == 4 else WEIGHT_BYTES[dtype])
    trainable = {"all": total, "adapters": total * ADAPTER_SHARE, "head": 0, "none": 0}.get(trains, total)
    param_bytes = WEIGHT_BYTES[dtype] if trains == "all" else 4.0  # peft keeps adapters in fp32
    h: int = shape.get("hidden_size") or shape.get("d_model") or 0  # both known: parameters() needs them
    heads = shape.get("num_attention_heads") or shape.get("num_heads") or 1
    layers: int = shape.get("num_hidden_layers") or shape.get("num_layers") or 0
    world = variant.world_size
    activations = optimizer = reference = 0.0
    for i, stage in enumerate(variant.stages):
        b, s = -(-stage.batch_size // world), stage.max_length
        if stage.objective == "dpo":  # a batch of pairs is twice as many sequences
            b *= 2
            # the reference: a copy of the trained weights, unless adapters are disabled for it (a
            # first stage's) or the loss has none (harness/train/preference.py)
            copied = stage.loss_type not in ("simpo", "orpo") and (trains == "all" or i > 0)
            reference = max(reference, trainable * param_bytes if copied else 0.0)
        half = stage.precision in ("bf16", "fp16", "auto")
        per_layer = s * b * h * (34 + 5 * heads * s / h) * (1 if half else 2)
        # gradient checkpointing keeps each layer's input alone, and one layer's whole
        # activations while backward recomputes it
        kept = layers * s * b * h * (2 if half else 4) + per_layer if stage.gradient_checkpointing else layers * per_layer
        backward = trains != "none" and trains != "head"
        activations = max(activations, (kept if backward else 0) + 8 * s * b * shape["vocab_size"])
        state = STATE_BYTES.get(stage.optimizer) or STATE_SIZES[stage.optimizer] * param_bytes
        optimizer = max(optimizer, trainable * state)
    if world > 1 and variant.distributed is not None and variant.distributed.strategy == "fsdp":
        weights, optimizer, trainable = weights / world, optimizer / world, trainable / world  # sharded
    # Scoring log-likelihoods computes a logit for every position of a batch.
    scoring = max((4 * ev.batch_size * EVAL_TOKENS * shape["vocab_size"] for ev in variant.evals), default=0)
    parts = {"weights": int(weights), "gradients": int(trainable * param_bytes if variant.stages else 0),
             "optimizer": int(optimizer), "activations": int(max(activations, scoring)),
             **({"reference": int(reference)} if reference else {})}
    return Estimate(sum(parts.values()), "estimate", parts)
