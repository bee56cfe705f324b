"""Model FLOPs per training token: the one count that a FLOPs budget (train/budget.py) sizes
steps by and that a record's cost (train_flops, achieved FLOP/s, MFU) reports.

Per token, for N parameters of which T train, L layers of hidden size h, sequences of s tokens:

    4N + 2T + 12 L h s

- weights: a matrix multiply does 2 FLOPs (multiply, add) per weight per token, so the
  forward pass is 2N; the backward pass needs the activations' gradients everywhere (2N,
  to reach whatever trains below) and the weights' gradients of the T that train (2T).
  Full fine-tuning: 6N, as in Kaplan et al. (2020).
- attention: the PaLM paper's appendix B adds 12 L h s for full training. Per layer and
  token the scores q.K^T are s dot products of length h (2hs) and the weighted sum of the
  values another 2hs: 4 L h s forward. Both operands of each product are activations, not
  weights, so the backward pass computes both gradients whatever trains (8 L h s), and no
  part of it shrinks for an adapter: 12 L h s for every method. Like PaLM, the full s x s
  scores are counted (a causal mask's skipped half is not subtracted), s being the mean
  number of tokens per example (padding excluded).

A method that does not backpropagate through the model at all (a linear probe on frozen
features) is still counted with 4N: the count compares methods by what they compute per
token, not by each one's shortcuts, as budgets have always done.

Imports no torch: the model is only asked for its config.
"""

from __future__ import annotations

FORMULA = "4N + 2T + 12·L·h·s"
WITHOUT_ATTENTION = "4N + 2T (no attention term: the model config names no num_hidden_layers and hidden_size)"


def per_token(total_params: int, trainable_params: int, shape: tuple[int, int] | None = None,
              seq: float | None = None) -> float:
    """FLOPs of one training token; `shape` (layers, hidden) and `seq` (mean tokens per
    example) add attention, which is left out when either is unknown."""
    flops = 4.0 * total_params + 2.0 * trainable_params
    if shape is not None and seq:
        layers, hidden = shape
        flops += 12.0 * layers * hidden * seq
    return flops


def shape(model) -> tuple[int, int] | None:
    """(layers, hidden size) from the model's config (peft wrappers pass it through; a
    probe's head keeps its base as `.base`); None when it names neither."""
    config = getattr(model, "config", None) or getattr(getattr(model, "base", None), "config", None)
    layers, hidden = getattr(config, "num_hidden_layers", None), getattr(config, "hidden_size", None)
    if isinstance(layers, int) and isinstance(hidden, int) and layers > 0 and hidden > 0:
        return layers, hidden
    return None


def describe(shape: tuple[int, int] | None, seq: float | None) -> str:
    """What a record says it counted: the formula with the figures it used."""
    if shape is None or not seq:
        return WITHOUT_ATTENTION
    return f"{FORMULA} (L={shape[0]}, h={shape[1]}, s={seq:.1f})"
