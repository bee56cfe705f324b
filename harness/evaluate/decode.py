"""Greedy decoding of a batch of prompts, faster than transformers' `generate()` on a
batch and with every prompt's own pass computed exactly as a one-prompt `generate()` does.

Where `generate()` spends its time on a left-padded batch (SmolLM2-135M, 16 SciTLDR
prompts, CPU): the prompt pass computes the padding too (18% of its tokens there), and
every decoding step concatenates each layer's whole key-value cache with the new token's
keys (DynamicCache: for 16 rows of 400 tokens, 250 MB copied per step, which is as long as
the step's arithmetic). Here instead:

1. Each prompt runs through the model alone, without padding, as `generate()` runs a single
   prompt; its first new token is picked there, so it is the one-prompt token exactly.
2. The prompts' caches are laid, right-aligned as in left padding, into one buffer per layer
   sized for the prompt and every new token; a step writes its keys in place and attention
   reads a view of the filled part (`Buffered`), nothing is copied.
3. A row leaves the batch once it has ended (end of sequence or a stop string after the
   answer began), so the last steps run on the rows still going.

The decoding steps run the rows as one batch, so their numbers equal one prompt's to float
rounding (the matrix products block by the batch's row count); the tests compare the text
with one-at-a-time `generate()`. `supports(model)` says when this applies: decoder-only
models whose every layer attends to the whole past, without peft's virtual-token methods;
the others go through `generate()` (harness/evaluate/generation.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers.cache_utils import Cache, DynamicLayer

from harness.models import abilities

# generate() options that change greedy choices; a model whose generation config sets any
# of them decodes through generate(), which applies them.
_PROCESSORS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None, "min_length": 0,
               "min_new_tokens": None, "suppress_tokens": None, "begin_suppress_tokens": None,
               "forced_bos_token_id": None, "forced_eos_token_id": None, "sequence_bias": None,
               "encoder_repetition_penalty": 1.0, "exponential_decay_length_penalty": None}


def supports(model) -> bool:
    """Whether `greedy` decodes this model: a decoder-only model with full attention in every
    layer, no peft prompt, prefix or P-tuning, and no logits processor in its generation config."""
    if abilities.is_encoder_decoder(model) or abilities.virtual_tokens(model):
        return False
    config = getattr(abilities.unwrapped(model), "config", None)
    if config is None:  # not a transformers model (a linear probe's wrapper): generate() says what it can
        return False
    text = config.get_text_config(decoder=True)
    if getattr(text, "sliding_window", None) or any(t != "full_attention" for t in getattr(text, "layer_types", None) or []):
        return False
    generation = getattr(model, "generation_config", None)
    return all(getattr(generation, k, v) in (v, None) for k, v in _PROCESSORS.items())


class Buffered(DynamicLayer):
    """One layer's keys and values in buffers sized once for the whole decoding: `update`
    writes the new positions in place and returns views of the filled part, the same
    tensors DynamicLayer would hold, without concatenating the past at every step."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self.buffers = (keys, values)
        self.length = length
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._views()

    def _views(self) -> None:
        self.keys, self.values = (b[:, :, : self.length] for b in self.buffers)

    def update(self, key_states, value_states, *args, **kwargs):
        n = key_states.shape[-2]
        for buffer, new in zip(self.buffers, (key_states, value_states)):
            buffer[:, :, self.length : self.length + n] = new
        self.length += n
        self._views()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.buffers = tuple(b[indices] for b in self.buffers)
        self._views()


def _merged(caches: list, room: int) -> tuple[Cache, int]:
    """One cache holding each row's prompt cache right-aligned at the same last position,
    with `room` free positions after it; and that position count."""
    width = max(c.layers[0].keys.shape[-2] for c in caches)
    layers = []
    for layer in range(len(caches[0].layers)):
        parts = [(c.layers[layer].keys, c.layers[layer].values) for c in caches]
        k0, v0 = parts[0]
        keys = k0.new_zeros((len(caches), k0.shape[1], width + room, k0.shape[3]))
        values = v0.new_zeros((len(caches), v0.shape[1], width + room, v0.shape[3]))
        for row, (k, v) in enumerate(parts):
            keys[row, :, width - k.shape[-2] : width] = k[0]
            values[row, :, width - v.shape[-2] : width] = v[0]
        layers.append(Buffered(keys, values, width))
    return Cache(layers=layers), width


@torch.no_grad()
def greedy(model, prompts: list[list[int]], max_new_tokens: int, eos: int | None,
           ended: Callable[[list[int]], bool]) -> list[list[int]]:
    """The greedy continuation (token ids, end of sequence included where it came) of each
    prompt, at most max_new_tokens long; `ended(new tokens)` says a row has ended (its stop
    string came), checked after every token."""
    device = next(model.parameters()).device
    keep = {"logits_to_keep": 1} if abilities.keeps_logits(model) else {}
    caches, out = [], []
    for ids in prompts:  # 1: each prompt alone, as a one-prompt generate() runs it
        x = torch.tensor([ids], device=device)
        step = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True, **keep)
        caches.append(step.past_key_values)
        out.append([int(step.logits[0, -1].argmax())])
    going = [i for i, t in enumerate(out) if not _done(t, eos, ended, max_new_tokens)]
    if not going:
        return out
    cache, width = _merged([caches[i] for i in going], max_new_tokens)  # 2: one buffer per layer
    del caches
    lengths = torch.tensor([len(prompts[i]) for i in going])
    # positions 0 .. len-1 for a row's prompt, as alone; its padding on the left is masked out
    mask = (torch.arange(width + max_new_tokens) >= (width - lengths)[:, None]).long().to(device)
    for t in range(1, max_new_tokens):
        ids = torch.tensor([[out[i][-1]] for i in going], device=device)
        positions = (lengths + t - 1)[:, None].to(device)
        logits = model(input_ids=ids, attention_mask=mask[:, : width + t], position_ids=positions,
                       past_key_values=cache, use_cache=True, **keep).logits[:, -1]
        for row, token in zip(going, logits.argmax(-1).tolist()):
            out[row].append(int(token))
        still = [j for j, i in enumerate(going) if not _done(out[i], eos, ended, max_new_tokens)]
        if len(still) < len(going):  # 3: ended rows leave the batch
            if not still:
                break
            index = torch.tensor(still, device=device)
            for layer in cache.layers:
                layer.batch_select_indices(index)
            going, lengths, mask = [going[j] for j in still], lengths[still], mask[index]
    return out


def _done(tokens: list[int], eos: int | None, ended: Callable[[list[int]], bool], limit: int) -> bool:
    return len(tokens) >= limit or (eos is not None and tokens[-1] == eos) or ended(tokens)


