"""What a training stage reads: its data (or mixture) rendered, tokenized and weighted, and
the validation check it runs (held-out loss, and generation metrics if asked for).

The worker calls `stage_sources` and `stage_check` once per stage; train.py only sees
encoded examples and a function returning scores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch

from harness.data import sources as data_sources
from harness.data.builtin import default_template
from harness.data.preferences import preference_pairs
from harness.data.templates import Template, per_row, render
from harness.errors import HarnessError
from harness.models.abilities import keeps_logits
from harness.suite.schema import TemplateSpec, TrainSpec
from harness.train.batches import Source, collate, encode, encode_class, encode_seq2seq, loss_items
from harness.train.objectives import sft_loss
from harness.train.preference import encode_pair

log = logging.getLogger(__name__)


def render_pairs(ref: str, split: str, template: TemplateSpec | list[TemplateSpec], base_dir: Path, limit: int | None,
                 label: str | None = None, columns: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(prompt, completion) per row; with a label column, (prompt, the row's class) instead.
    With several templates each row is written with one of them (templates.per_row)."""
    rows = data_sources.map_columns(data_sources.load_split(ref, split, base_dir, limit=limit), columns or {}, ref)
    templates = [Template(t.prompt, t.completion) for t in (template if isinstance(template, list) else [template])]
    written = per_row(templates, len(rows))
    pairs = []
    for i, row in enumerate(rows):
        where = f"{ref} ({split}) row {i + 1}"
        prompt, completion = render(written[i], row, where=where)
        if label is not None:
            if label not in row:
                raise HarnessError(f"{where}: no label column {label!r}; the row has {', '.join(sorted(row))}")
            completion = str(row[label])
        pairs.append((prompt, completion))
    return pairs


def stage_labels(cfg: TrainSpec, base_dir: Path) -> tuple[str, ...] | None:
    """The classes of a classification stage: as given, or sorted from its training data."""
    if cfg.label is None:
        return None
    if cfg.labels:
        return tuple(cfg.labels)
    found = {str(row.get(cfg.label)) for d in cfg.datasets()
             for row in data_sources.map_columns(data_sources.load_split(d.data, d.split, base_dir, d.limit), d.columns, d.data)}
    return tuple(sorted(found))


def encode_pairs(tokenizer, pairs: list[tuple[str, str]], cfg: TrainSpec, name: str,
                 labels: tuple[str, ...] | None = None, family: str = "causal") -> list[dict]:
    if labels is not None:
        index = {c: i for i, c in enumerate(labels)}
        unknown = sorted({c for _, c in pairs if c not in index})
        if unknown:
            raise HarnessError(f"{name}: classes {unknown} are not among the labels {list(labels)}")
        return [encode_class(tokenizer, p, index[c], cfg.max_length, cfg.chat) for p, c in pairs]
    if family == "seq2seq":
        if cfg.chat:
            raise HarnessError(f"{name}: chat: true wraps prompts in a decoder's chat template; an encoder-decoder has none")
        encoded = (encode_seq2seq(tokenizer, p, c, cfg.max_length) for p, c in pairs)
    else:
        encoded = (encode(tokenizer, p, c, cfg.max_length, cfg.chat) for p, c in pairs)
    examples = [e for e in encoded if e is not None]
    if len(examples) < len(pairs):
        log.warning("%s: %d of %d examples had no completion token left after truncation to max_length=%d; skipped",
                    name, len(pairs) - len(examples), len(pairs), cfg.max_length)
    if not examples:
        raise HarnessError(f"{name}: no example fits max_length={cfg.max_length} with a completion token")
    return examples


def preference_examples(tokenizer, d, cfg: TrainSpec, base_dir: Path, family: str) -> list[dict]:
    """A preference stage's encoded pairs of one dataset (harness/train/preference.py)."""
    if family != "causal":
        raise HarnessError(f"{d.data}: objective dpo tunes a decoder's answers; a {family} model has none to compare")
    templates = [Template(t.prompt, t.completion) for t in (d.template if isinstance(d.template, list) else [d.template])]
    pairs = preference_pairs(d.data, d.split, base_dir, d.limit, templates, d.columns)
    encoded = [encode_pair(tokenizer, p, cfg.max_length, bool(cfg.chat)) for p in pairs]
    examples = [e for e in encoded if e is not None]
    if len(examples) < len(pairs):
        log.warning("%s: %d of %d pairs had an answer cut to nothing by max_length=%d; skipped",
                    d.data, len(pairs) - len(examples), len(pairs), cfg.max_length)
    if not examples:
        raise HarnessError(f"{d.data}: no pair fits max_length={cfg.max_length} with a token of each answer")
    return examples


def stage_sources(cfg: TrainSpec, tokenizer, base_dir: Path, labels: tuple[str, ...] | None = None,
                  family: str = "causal") -> list[Source]:
    """One Source for plain data, one per dataset for a mixture (limit applies to each)."""
    out = []
    for d in cfg.datasets():
        if cfg.objective == "dpo":
            out.append(Source(f"{d.data} ({d.split})", preference_examples(tokenizer, d, cfg, base_dir, family), d.weight))
            continue
        pairs = render_pairs(d.data, d.split, d.template, base_dir, d.limit, cfg.label, d.columns)
        out.append(Source(f"{d.data} ({d.split})", encode_pairs(tokenizer, pairs, cfg, d.data, labels, family), d.weight))
    return out


@torch.no_grad()
def mean_loss(model, examples: list[dict], pad_id: int, batch_size: int) -> float:
    """Mean loss per completion token over the examples (each token counts once)."""
    device = next(model.parameters()).device
    selective = keeps_logits(model)  # the output head at completion tokens only
    total, tokens = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[i : i + batch_size], pad_id).items()}
        n = loss_items(batch, model)
        total += float(sft_loss(model, batch, selective)) * n
        tokens += n
    return total / tokens if tokens else math.nan


def stage_check(cfg: TrainSpec, model, tokenizer, base_dir: Path, labels: tuple[str, ...] | None = None,
                family: str = "causal") -> Callable[[], dict[str, float]] | None:
    """The validation check of a stage: loss on held-out examples, plus any generation metrics."""
    v = cfg.validation
    if v is None:
        return None
    ref = v.data or cfg.data
    template = cfg.template if v.data is None or cfg.template is not None else None
    if template is None:
        template = default_template(ref)
    pairs = render_pairs(ref, v.split, template, base_dir, v.limit, cfg.label, cfg.columns if v.data is None else None)
    examples = encode_pairs(tokenizer, pairs, cfg, f"validation {ref}", labels, family)

    def check() -> dict[str, float]:
        scores = {"loss": round(mean_loss(model, examples, tokenizer.pad_token_id, cfg.batch_size), 6)}
        if v.metrics:
            from harness.evaluate.generation import generate
            from harness.registry import METRICS

            prompts = [p for p, _ in pairs]
            predictions = generate(model, tokenizer, prompts, v.max_new_tokens, ["\n"], cfg.batch_size,
                                   desc="validate", chat=cfg.chat)
            predictions = [p.strip() for p in predictions]  # scored as evals score them
            for metric in v.metrics:
                scores[metric] = METRICS.load(metric)(predictions, [[c.strip()] for _, c in pairs]).value
        return scores

    return check
