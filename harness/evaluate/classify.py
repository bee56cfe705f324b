"""Classification evals: each example gets one of the label set, and accuracy / macro-F1
compare it with the gold column.

A model with a classification head (a linear probe) predicts with its head. Any other
model is scored zero-shot by label words: the class whose text is most likely as the
continuation of the prompt (the completion template rendered with that class, or " CLASS"
when the template has none), as lm-eval scores multiple-choice tasks.
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.data import sources
from harness.data.templates import Template, render
from harness.errors import HarnessError
from harness.evaluate import shards
from harness.evaluate.loglik import continuation_logprobs
from harness.evaluate.scoring import score
from harness.suite.schema import EvalSpec
from harness.train.batches import chat_prompt, collate, encode_class


def _examples(ev: EvalSpec, base_dir: Path) -> tuple[list[dict], list[str], list[str]]:
    rows = sources.map_columns(sources.load_split(ev.data, ev.split, base_dir, limit=ev.limit), ev.columns, ev.data)
    template = Template(ev.template.prompt, ev.template.completion)
    prompts, gold = [], []
    for i, row in enumerate(rows):
        where = f"{ev.data} ({ev.split}) row {i + 1}"
        if ev.label not in row:
            raise HarnessError(f"{where}: no label column {ev.label!r}; the row has {', '.join(sorted(row))}")
        prompts.append(render(template, row, where=where)[0])
        gold.append(str(row[ev.label]))
    return rows, prompts, gold


@torch.no_grad()
def _with_head(model, tokenizer, prompts: list[str], ev: EvalSpec) -> list[str]:
    device = next(model.parameters()).device
    predictions: list[str] = [""] * len(prompts)
    done: list[int] = []
    for i in shards.mine(range(0, len(prompts), ev.batch_size)):
        batch = [encode_class(tokenizer, p, 0, 100_000, bool(ev.chat)) for p in prompts[i : i + ev.batch_size]]
        enc = collate(batch, tokenizer.pad_token_id)
        logits = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)).logits
        for j, k in enumerate(logits.argmax(-1).tolist()):
            predictions[i + j] = model.labels[k]
            done.append(i + j)
    return shards.gather(predictions, done)


def _by_label_words(model, tokenizer, rows, prompts, classes: list[str], ev: EvalSpec) -> list[str]:
    template = Template(ev.template.prompt, ev.template.completion)
    contexts = [chat_prompt(tokenizer, p) for p in prompts] if ev.chat else prompts
    pairs = []
    for row, context in zip(rows, contexts):
        for c in classes:
            word = render(template, {**row, ev.label: c}, where=ev.data)[1] if template.completion else f" {c}"
            pairs.append((context, word))
    scores = continuation_logprobs(model, tokenizer, pairs, ev.batch_size, desc=f"eval {ev.name}", specials=not ev.chat)
    k = len(classes)
    return [classes[max(range(k), key=lambda j: scores[i * k + j])] for i in range(len(rows))]


def predict(model, tokenizer, ev: EvalSpec, base_dir: Path) -> tuple[list[str], list[str], list[str], str]:
    """(prompts, predicted classes, gold classes, how the predictions were made)."""
    rows, prompts, gold = _examples(ev, base_dir)
    if getattr(model, "labels", None):
        return prompts, _with_head(model, tokenizer, prompts, ev), gold, "head"
    classes = ev.labels or sorted(set(gold))
    return prompts, _by_label_words(model, tokenizer, rows, prompts, classes, ev), gold, "label words"


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path) -> tuple[dict[str, dict], list[dict]]:
    """Each example's class, scored against the gold column; each score says how it was predicted."""
    prompts, predictions, gold, how = predict(model, tokenizer, ev, base_dir)
    scores, rows = score(ev, prompts, predictions, [[g] for g in gold])
    for entry in scores.values():
        entry["predicted_by"] = how
    return scores, rows
