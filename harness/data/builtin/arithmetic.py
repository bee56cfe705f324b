"""arithmetic: MMLU-style multiple-choice questions on elementary arithmetic and units.

Each row is {question, choices (four numbers as text), answer (index of the right one),
subject}, the layout a `kind: multiple_choice` eval reads, so lm-eval's mmlu prompt and
scoring apply unchanged. Subjects: addition, subtraction, multiplication (two-digit
operands) and unit_conversion (metric lengths, masses, volumes and times). The wrong
choices are the mistakes people make: off by one or by ten, the neighbouring table entry,
the wrong factor of ten; so the task needs the sum, not a guess at the magnitude.

Every possible question is enumerated, shuffled by a fixed seed and cut into the splits,
so no question appears in two splits; rows come subject after subject in turn, so any
prefix (an eval's `limit`) is balanced. `dev` holds a few questions per subject for
few-shot prompts, as MMLU's dev split does. A small pretrained model answers some of these
and fine-tuning on another task may lose them: a retention check for forgetting.
Bump GENERATOR_VERSION when the data changes.
"""

from __future__ import annotations

import functools
import random

from harness.errors import HarnessError

GENERATOR_VERSION = 1
SUBJECTS = ("addition", "subtraction", "multiplication", "unit_conversion")
SPLIT_SIZES = {"dev": 5, "train": 250, "validation": 25, "test": 50}  # per subject
SEED = 20261128

# (unit, how many of the base unit) per quantity; questions convert between two of them.
_UNITS = {
    "length": (("millimetres", 1), ("centimetres", 10), ("metres", 1000), ("kilometres", 1_000_000)),
    "mass": (("milligrams", 1), ("grams", 1000), ("kilograms", 1_000_000)),
    "volume": (("millilitres", 1), ("centilitres", 10), ("litres", 1000)),
    "time": (("seconds", 1), ("minutes", 60), ("hours", 3600)),
}


def generate(split: str) -> list[dict]:
    """Rows {question, choices, answer, subject} of one split; fresh dicts each call."""
    if split not in SPLIT_SIZES:
        raise HarnessError(f"arithmetic has no split {split!r}; it has: {', '.join(SPLIT_SIZES)}")
    return [{**row, "choices": list(row["choices"])} for row in _splits()[split]]


def _number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:,.3f}".rstrip("0")


def _questions(subject: str) -> list[tuple[str, int, list[float]]]:
    """(question, right answer, wrong answers) for every question of the subject."""
    out = []
    if subject == "unit_conversion":
        for units in _UNITS.values():
            for big, big_size in units:
                for small, small_size in units:
                    if big_size <= small_size:
                        continue
                    ratio = big_size // small_size
                    for amount in range(2, 40):
                        right = amount * ratio
                        out.append((f"How many {small} are there in {amount} {big}?", right,
                                    [right * 10, right // 10 if ratio >= 10 else right + amount, (amount + 1) * ratio]))
        return out
    for a in range(11, 100):
        for b in range(11, 100):
            if subject == "addition":
                out.append((f"What is {a} + {b}?", a + b, [a + b + 1, a + b - 10, a + b + 10]))
            elif subject == "subtraction" and a > b:
                out.append((f"What is {a} - {b}?", a - b, [a - b + 1, a - b + 10, a + b]))
            elif subject == "multiplication" and a <= 30 and b <= 30:
                out.append((f"What is {a} × {b}?", a * b, [a * (b + 1), a * b + 10, (a + 1) * b]))
    return out


@functools.lru_cache(maxsize=None)
def _splits() -> dict[str, tuple[dict, ...]]:
    rng = random.Random(SEED)
    per_subject: dict[str, dict[str, list[dict]]] = {}
    for subject in SUBJECTS:
        pool = _questions(subject)
        rng.shuffle(pool)
        start, parts = 0, {}
        for split, size in SPLIT_SIZES.items():
            parts[split] = [_row(q, right, wrong, subject, rng) for q, right, wrong in pool[start:start + size]]
            start += size
        per_subject[subject] = parts
    # subject after subject in turn, so every prefix of a split is balanced
    return {split: tuple(row for group in zip(*(per_subject[s][split] for s in SUBJECTS)) for row in group)
            for split in SPLIT_SIZES}


def _row(question: str, right: int, wrong: list[int], subject: str, rng: random.Random) -> dict:
    options = [right] + list(dict.fromkeys(w for w in wrong if w != right and w > 0))
    while len(options) < 4:  # a distractor coincided: take the next number up
        options.append(max(options) + 1)
    options = options[:4]
    rng.shuffle(options)
    return {"question": question, "choices": tuple(_number(o) for o in options), "answer": options.index(right),
            "subject": subject}
