"""sentiment: short restaurant reviews labelled positive or negative, for classification
(a linear probe, label-word scoring, encoder classifiers).

A review praises or criticises one to three aspects (food, service, prices, setting) of a
venue from data2text's name list; a third of them add a clause of the other polarity
("..., though the service was slow"), so single words do not settle the label. Splits
share no venue (data2text's partition of the names) and are drawn from random.Random
seeded by the split name, so the data is the same on every machine. Bump
GENERATOR_VERSION when the data changes.
"""

from __future__ import annotations

import functools
import random

from harness.data.builtin.data2text import _SPLIT_NAMES
from harness.errors import HarnessError

GENERATOR_VERSION = 1
SPLIT_SIZES = {"train": 600, "validation": 100, "test": 200}
LABELS = ("negative", "positive")

_ASPECTS = {
    "positive": (
        "the food was delicious", "the pasta was perfectly cooked", "the staff were warm and attentive",
        "service was quick and friendly", "the prices were fair", "it is great value for money",
        "the room was cosy and bright", "the view over the water was lovely", "the desserts were superb",
        "the wine list was excellent",
    ),
    "negative": (
        "the food was bland", "the fish was overcooked", "the staff were rude", "service was painfully slow",
        "the prices were far too high", "it is poor value for money", "the room was cramped and noisy",
        "the tables were sticky", "the desserts were stale", "the coffee was cold",
    ),
}
_OPENINGS = {
    "positive": ("We loved {name}:", "A wonderful evening at {name}:", "{name} did not disappoint:", "I would go back to {name}:"),
    "negative": ("We regretted going to {name}:", "A disappointing evening at {name}:", "{name} let us down:", "I will not go back to {name}:"),
}
_TURNS = ("though", "even if", "although")


def generate(split: str) -> list[dict]:
    """Rows {text, label} of one split; fresh dicts each call."""
    return [dict(row) for row in _generate(split)]


@functools.lru_cache(maxsize=None)
def _generate(split: str) -> tuple[dict, ...]:
    if split not in SPLIT_SIZES:
        raise HarnessError(f"sentiment has no split {split!r}; it has: {', '.join(SPLIT_SIZES)}")
    rng = random.Random(f"sentiment-{split}")
    rows = []
    for _ in range(SPLIT_SIZES[split]):
        label = rng.choice(LABELS)
        other = "negative" if label == "positive" else "positive"
        name = rng.choice(_SPLIT_NAMES[split])
        aspects = rng.sample(_ASPECTS[label], rng.randint(1, 3))
        text = rng.choice(_OPENINGS[label]).format(name=name) + " " + ", ".join(aspects)
        if rng.random() < 1 / 3:  # a minor complaint or compliment that does not change the verdict
            text += f", {rng.choice(_TURNS)} {rng.choice(_ASPECTS[other])}"
        rows.append({"text": text + ".", "label": label})
    return tuple(rows)
