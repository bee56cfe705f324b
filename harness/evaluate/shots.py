"""In-context baselines: the training examples an untuned model sees before each eval prompt.

`baselines: {shots: [0, 5]}` in a suite adds a variant per k (harness/suite/plan.py) whose
generation prompts open with k examples drawn once, with a fixed seed, from the training
data (never the eval's split: harness/suite/checks.py refuses that), rendered with the
training template, so the untuned model sees the task as the tuned ones learned it. Every
eval example gets the same examples in the same order, and so does every run of the suite.

Layout: plain prompts put each example's prompt and completion one after the other, a blank
line between examples (lm-eval's default delimiter), then the eval prompt. Under a chat
template each example is a user turn and an assistant turn (lm-eval's few-shot as
multi-turn), then the eval prompt as the last user turn. When the whole does not fit the
model's context with room for the answer, the last examples are dropped until it does;
how many each prompt kept is returned, and recorded.
"""

from __future__ import annotations

import random
from pathlib import Path

from harness.data import sources
from harness.data.templates import Template, per_row, render
from harness.errors import HarnessError
from harness.suite.variant import Shots
from harness.train.batches import chat_prompt

DELIMITER = "\n\n"  # between plain examples, as lm-eval's fewshot_delimiter


def draw(shots: Shots, base_dir: Path) -> list[tuple[str, str]]:
    """The k (prompt, completion) pairs: rows picked by a seeded sample of the training split."""
    rows = sources.map_columns(sources.load_split(shots.data, shots.split, base_dir), shots.columns, shots.data)
    if len(rows) < shots.k:
        raise HarnessError(f"baselines.shots asks for {shots.k} examples, but {shots.data} ({shots.split}) has {len(rows)} rows")
    templates = [Template(t.prompt, t.completion) for t in (shots.template if isinstance(shots.template, list) else [shots.template])]
    written = per_row(templates, len(rows))
    picks = random.Random(shots.seed).sample(range(len(rows)), shots.k)
    return [render(written[i], rows[i], where=f"{shots.data} ({shots.split}) row {i + 1}") for i in picks]


def compose(tokenizer, prompt: str, examples: list[tuple[str, str]], chat: bool) -> str:
    """The text the model continues: the examples, then the prompt (chat-templated if chat)."""
    if not chat:
        return "".join(p + c + DELIMITER for p, c in examples) + prompt
    if not examples:
        return chat_prompt(tokenizer, prompt)
    turns = []
    for p, c in examples:
        turns += [{"role": "user", "content": p}, {"role": "assistant", "content": c.strip()}]
    chat_prompt(tokenizer, prompt)  # says clearly when the model has no chat template
    return tokenizer.apply_chat_template(turns + [{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def contexts(tokenizer, prompts: list[str], examples: list[tuple[str, str]], chat: bool, room: int) -> tuple[list[str], list[int]]:
    """Each prompt with as many of the examples as fit in `room` tokens (all, usually), and
    how many each got."""
    texts, kept = [], []
    for prompt in prompts:
        n = len(examples)
        text = compose(tokenizer, prompt, examples, chat)
        while n > 0 and len(tokenizer(text, add_special_tokens=not chat)["input_ids"]) > room:
            n -= 1
            text = compose(tokenizer, prompt, examples[:n], chat)
        texts.append(text)
        kept.append(n)
    return texts, kept


def context_length(model) -> int | None:
    """Positions the model can attend over (None when its config does not say)."""
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return int(value) if value else None
