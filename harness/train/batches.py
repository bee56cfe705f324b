"""From (prompt, completion) pairs to padded batches: tokenizing with the loss mask, and the
sampler that mixes datasets by weight and groups examples of similar length.

Loss is on completion tokens only: prompt tokens get label -100, the ignore index of
torch's cross-entropy. Grouping by length follows the usual recipe (transformers'
LengthGroupedSampler): draw a mega-batch of 50 batches, sort it by length, cut it into
batches, and shuffle the batches, so padding stays small while the order stays random.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from harness.errors import HarnessError
from harness.models import abilities
from harness.train.budget import length

IGNORE = -100  # torch.nn.CrossEntropyLoss's default ignore_index
MEGA_BATCH = 50  # batches per sorted mega-batch, as in transformers' LengthGroupedSampler


def chat_prompt(tokenizer, prompt: str | Sequence[dict[str, str]]) -> str:
    """The prompt as a user turn in the model's chat template (or, given chat messages, those
    turns), ready for the answer."""
    if not getattr(tokenizer, "chat_template", None):
        what = "the data is chat messages" if not isinstance(prompt, str) else "chat: true"
        raise HarnessError(f"{what}, but this model's tokenizer has no chat template; "
                           + ("use a model that has one" if not isinstance(prompt, str) else "set chat: false"))
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode(tokenizer, prompt: str | Sequence[dict[str, str]], completion: str, max_length: int,
           chat: bool = False) -> dict[str, list[int]] | None:
    """Token ids and labels for one example; None when truncation leaves no completion token.

    A chat-templated prompt carries its own special tokens, so none are added to it; a
    prompt given as chat messages always goes through the chat template.
    """
    if chat or not isinstance(prompt, str):
        prompt_ids = tokenizer(chat_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    else:
        prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + completion_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + completion_ids)[:max_length]
    if all(label == IGNORE for label in labels):
        return None
    return {"input_ids": input_ids, "labels": labels}


def encode_seq2seq(tokenizer, prompt: str, completion: str, max_length: int) -> dict[str, list[int]] | None:
    """An encoder-decoder example: the prompt's ids for the encoder, the completion's (with
    the tokenizer's end token, as T5's and BART's add) as the decoder's labels; each cut to
    max_length. None when the completion is empty."""
    input_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"][:max_length]
    labels = tokenizer(text_target=completion, add_special_tokens=True)["input_ids"][:max_length]
    if not labels:
        return None
    return {"input_ids": input_ids, "labels": labels}


def encode_class(tokenizer, text: str, label: int, max_length: int, chat: bool = False) -> dict:
    """A classification example: the text's token ids and its class index."""
    if chat:
        ids = tokenizer(chat_prompt(tokenizer, text), add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    return {"input_ids": ids[:max_length], "labels": label}


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked out of attention and of the loss. Classification
    examples carry one class index each instead of token labels."""
    width = max(len(e["input_ids"]) for e in examples)
    if isinstance(examples[0]["labels"], int):
        ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, e in enumerate(examples):
            ids[row, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
            mask[row, : len(e["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([e["labels"] for e in examples])}
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    # Labels as long as the inputs (a decoder's) or as long as the longest target (an
    # encoder-decoder's, whose labels are the decoder's own sequence).
    labels = torch.full((len(examples), max(len(e["labels"]) for e in examples)), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, : len(e["labels"])] = torch.tensor(e["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def loss_items(batch: dict[str, torch.Tensor], model) -> int:
    """What the model's mean loss divides by: examples (classification), labelled tokens (an
    encoder-decoder's decoder predicts each), or labelled tokens after the first position (a
    decoder shifts labels by one)."""
    labels = batch["labels"]
    if labels.dim() == 1:
        return len(labels)
    if abilities.is_encoder_decoder(model):
        return int((labels != IGNORE).sum())
    return int((labels[:, 1:] != IGNORE).sum())


@dataclass
class Source:
    """One dataset's encoded examples and its share of a mixture."""

    name: str
    examples: list[dict[str, list[int]]]
    weight: float = 1.0


class _Cycle:
    """Endless reshuffled passes over one source's examples."""

    def __init__(self, n: int, rng: random.Random):
        self.n, self.rng, self.order = n, rng, []

    def next(self) -> int:
        if not self.order:
            self.order = list(range(self.n))
            self.rng.shuffle(self.order)
        return self.order.pop()


def batches(sources: list[Source], batch_size: int, seed: int, by_length: bool = True) -> Iterator[list[dict]]:
    """Endless batches; each example comes from a source chosen in proportion to its weight."""
    rng = random.Random(seed)
    cycles = [_Cycle(len(s.examples), rng) for s in sources]
    weights = [s.weight for s in sources]

    def draw(k: int) -> list[dict]:
        picks = rng.choices(range(len(sources)), weights=weights, k=k) if len(sources) > 1 else [0] * k
        return [sources[i].examples[cycles[i].next()] for i in picks]

    # A mega-batch no larger than the data: sorting draws that repeat an example would put
    # its copies side by side, and whole batches would be one example.
    total = sum(len(s.examples) for s in sources)
    mega_size = max(batch_size, min(batch_size * MEGA_BATCH, total) // batch_size * batch_size)
    while True:
        if not by_length:
            yield draw(batch_size)
            continue
        mega = sorted(draw(mega_size), key=length, reverse=True)
        chunks = [mega[i : i + batch_size] for i in range(0, len(mega), batch_size)]
        rng.shuffle(chunks)
        yield from chunks
