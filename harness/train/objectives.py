"""What a training step minimises. Supervised fine-tuning: the mean cross-entropy of the
completion tokens (batches.py gives prompt tokens the ignore label).

A decoder's loss reads the logits only where a completion token is predicted, so the
output head runs there alone (transformers' logits_to_keep with a boolean mask) instead of
over the whole vocabulary at every position. On SmolLM2-135M that head is a fifth of the
forward pass, and in an abstract-to-summary example nine positions in ten are prompt; the
full logits of a batch of 8 x 300 tokens are also 470 MB of fp32 that the loss's softmax
reads and writes twice. The value is the model's own loss to float rounding
(tests/train/test_objectives.py). Models that cannot slice their logits (an
encoder-decoder, a classifier, peft's soft prompts, which shift the positions:
harness/models/abilities.py) compute the loss the model's way.
"""

from __future__ import annotations

import torch

from harness.train.batches import IGNORE


def sft_loss(model, batch: dict[str, torch.Tensor], selective: bool) -> torch.Tensor:
    """The batch's mean loss over its completion tokens (over its examples, for a classifier)."""
    labels = batch["labels"]
    if not selective or labels.dim() != 2:
        return model(**batch).loss
    # The token at t+1 is predicted at t: keep position t where label t+1 is a completion token.
    targets = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = targets != IGNORE
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=keep).logits  # (completion tokens, vocabulary)
    if logits.shape[0] == 0:
        return logits.sum() * 0.0  # nothing to learn here (a rank's share may hold no completion)
    return torch.nn.functional.cross_entropy(logits.float(), targets[targets != IGNORE])
