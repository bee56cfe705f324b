"""Built-in tasks: data the harness generates from a seed, so a suite runs with no download.

A suite names one as `builtin:NAME`. Each task brings its splits, a generator version
(part of the data fingerprint), a default prompt template and, for generation tasks, the
field holding several references per example.

Tasks so far: data2text (generation), sentiment (classification), arithmetic
(multiple choice, MMLU-style: a retention check) and faithfulness (preference pairs over
data2text's records: chosen vs rejected, for DPO and preference evals). Later tasks are
added the same way: write harness/data/builtin/NAME.py with GENERATOR_VERSION and
generate(split), add a BuiltinTask below, and add one line to harness/catalog.py so
`harness ls tasks` lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.data.builtin import arithmetic, data2text, faithfulness, sentiment
from harness.data.templates import DEFAULT_TEMPLATE, PREFERENCE_TEMPLATE, Template
from harness.errors import HarnessError


@dataclass(frozen=True)
class BuiltinTask:
    name: str
    help: str  # one line, for `harness ls tasks`
    splits: tuple[str, ...]
    version: int  # bump when the generated data changes, so old results are not reused
    generate: Callable[[str], list[dict]]  # split -> fresh list of rows
    default_template: Template
    references_field: str | None  # column holding a list of references, if any


DATA2TEXT = BuiltinTask(
    name="data2text",
    help="restaurant record to one sentence (E2E-style), 3 references each; ROUGE/BLEU",
    splits=tuple(data2text.SPLIT_SIZES),
    version=data2text.GENERATOR_VERSION,
    generate=data2text.generate,
    default_template=Template(prompt="Describe this restaurant in one sentence.\n{{input}}\n", completion="{{output}}"),
    references_field="references",
)

SENTIMENT = BuiltinTask(
    name="sentiment",
    help="restaurant reviews labelled positive/negative (column label); accuracy, macro-F1",
    splits=tuple(sentiment.SPLIT_SIZES),
    version=sentiment.GENERATOR_VERSION,
    generate=sentiment.generate,
    default_template=Template(prompt="Review: {{text}}\nSentiment:", completion=" {{label}}"),
    references_field=None,
)

ARITHMETIC = BuiltinTask(
    name="arithmetic",
    help="MMLU-style multiple choice: two-digit sums, differences, products and metric unit conversions; acc",
    splits=tuple(arithmetic.SPLIT_SIZES),
    version=arithmetic.GENERATOR_VERSION,
    generate=arithmetic.generate,
    # for training on it; a multiple_choice eval uses lm-eval's mmlu prompt instead
    default_template=Template(prompt="Question: {{question}}\nAnswer:", completion=" {{choices[answer]}}"),
    references_field=None,
)

FAITHFULNESS = BuiltinTask(
    name="faithfulness",
    help="preference pairs: a faithful restaurant description (chosen) vs one with a contradicted or unsupported attribute (rejected); DPO, preference evals",
    splits=tuple(faithfulness.SPLIT_SIZES),
    version=faithfulness.GENERATOR_VERSION,
    generate=faithfulness.generate,
    # Supervised tuning on it learns the chosen answer; a preference stage renders only the
    # prompt and reads the chosen and rejected columns.
    default_template=Template(prompt="Describe this restaurant in one sentence.\n{{input}}\n", completion="{{chosen}}"),
    references_field=None,
)


def task(name: str) -> BuiltinTask:
    """The task `builtin:NAME` names: a registered task (built in here, or a plugin's)."""
    from harness.registry import TASKS

    if name not in TASKS:
        raise HarnessError(f"builtin:{name}: {TASKS.unknown_message(name)}")
    return TASKS.load(name)


def default_template(data_ref: str, preference: bool = False) -> Template:
    """The template a data reference is read with when a suite gives none: a built-in
    task's own, else the generic {{input}} -> {{output}} (for preference pairs, {{prompt}}:
    their answers are the chosen and rejected columns)."""
    if data_ref.startswith("builtin:") and data_ref[8:]:
        return task(data_ref[8:]).default_template
    return PREFERENCE_TEMPLATE if preference else DEFAULT_TEMPLATE
