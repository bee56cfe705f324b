"""The suite format (v1): pydantic models of one YAML file, and of a loaded suite.

These types are the vocabulary every stage speaks (the planner's Variant carries TrainSpec
and EvalSpec to the worker, the trainer and the evaluators), so this module imports nothing
of the harness but errors. Loading a file is harness/suite/loading.py; checking names and
references against the registries and the data, harness/suite/checks.py. To add a suite key:
add a field here with a comment saying what it is for; plan.py decides how it reaches a
variant.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # safe as a folder and file name


# Defaults are written Field(default=...): a type checker reads a field's default from that keyword only.
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateSpec(_Strict):
    """prompt + completion (loss on the completion only), or text (loss on every token)."""

    prompt: str = ""
    completion: str = ""
    text: str | None = None  # raw text for language-model fine-tuning: the whole of it is learned

    @model_validator(mode="after")
    def _text_alone(self):
        if self.text is not None and (self.prompt or self.completion):
            raise ValueError("give text, or prompt and completion, not both")
        if self.text is None and not self.prompt and not self.completion:
            raise ValueError("give prompt and completion, or text")
        return self


Template = TemplateSpec | str  # a dict, or one "prompt ||| completion" string
# Several phrasings of one task (FLAN-style): training draws one per example, an eval scores
# each and reports the mean and the spread across them.
Templates = Template | Annotated[list[Template], Field(min_length=1)]
TEMPLATE_MARK = "@"  # an eval with several templates is scored as NAME@1, NAME@2... (a name never has "@")


class MixtureItem(_Strict):
    """One dataset of a multi-task mixture; examples are drawn in proportion to weight."""

    data: str
    split: str = "train"
    template: Templates | None = None  # default: the task's own template
    columns: dict[str, str] = {}  # new name -> existing column, e.g. {input: sentence}
    weight: float = Field(default=1.0, gt=0)
    limit: int | None = Field(default=None, gt=0)


class ValidationSpec(_Strict):
    """Checks during training: loss (and optionally generation metrics) on held-out data."""

    every: int = Field(gt=0)  # steps between checks; also one before the first and after the last step
    data: str | None = None  # default: the training data (its validation split)
    split: str = "validation"
    limit: int | None = Field(default=64, gt=0)
    metrics: list[str] = []  # generation metrics besides the loss (slower: they decode)
    max_new_tokens: int = Field(default=64, gt=0)


class BudgetSpec(_Strict):
    """Train every method for the same amount of one resource instead of the same steps: the
    steps are derived per variant from it (harness/train/budget.py) and recorded. One of:"""

    steps: int | None = Field(default=None, gt=0)  # optimizer steps (the default comparison)
    tokens: int | None = Field(default=None, gt=0)  # training tokens, padding excluded, prompts included
    seconds: float | None = Field(default=None, gt=0)  # wall-clock training time, validation checks excluded
    # Training FLOPs, counted per token as 2 x parameters (forward) + 2 x parameters (gradients
    # of the activations) + 2 x trainable parameters (of the weights): 6N for full fine-tuning,
    # about 4N for an adapter; attention's own FLOPs left out, as in Kaplan et al. (2020).
    flops: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("steps", "tokens", "seconds", "flops") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a budget names one of steps, tokens, seconds or flops, got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("steps", "tokens", "seconds", "flops") if getattr(self, k) is not None)

    @property
    def amount(self) -> float:
        return float(getattr(self, self.kind))


class TrainSpec(_Strict):
    """Training data and settings shared by all variants (a method entry may override any)."""

    data: str | None = None  # builtin:NAME | hf:DATASET[:CONFIG][@REVISION] | path (.jsonl .json .csv .tsv .parquet)
    split: str = "train"  # datasets split syntax, slices included: "train[:80%]"
    template: Templates | None = None  # default: the task's own template
    # Column mapping: new name -> existing column ({input: sentence}), so a template or
    # label written for one dataset reads another; the original columns stay.
    columns: dict[str, str] = {}
    mixture: list[MixtureItem] | None = Field(default=None, min_length=1)  # several datasets instead of data
    # Wrap each prompt in the model's chat template (as a user turn, the completion as the
    # assistant's). Default: yes for a model that has one (an instruct model), so it is
    # tuned and scored the way it was made to be prompted; the record's spec says which.
    chat: bool | None = None
    # Classification (linear_probe): the column holding each example's class; the prompt is the text.
    label: str | None = None
    labels: list[str] | None = Field(default=None, min_length=2)  # the classes, in order (default: sorted from the data)
    limit: int | None = Field(default=None, gt=0)  # use at most this many training examples
    steps: int = Field(default=20, gt=0)  # optimizer steps (a budget, when set, decides them instead)
    budget: BudgetSpec | None = None  # the same tokens, seconds or FLOPs for every method
    batch_size: int = Field(default=4, gt=0)
    grad_accum: int = Field(default=1, gt=0)  # micro-batches per optimizer step
    learning_rate: float = Field(default=2.0e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    schedule: Literal["constant", "linear", "cosine"] = "linear"  # after warmup
    max_grad_norm: float | None = Field(default=1.0, gt=0)  # clipping; null turns it off
    max_length: int = Field(default=256, gt=0)  # tokens per example, prompt + completion
    # by_length: batches of similar length (little padding), in random order.
    batching: Literal["by_length", "shuffled"] = "by_length"
    # Autocast during training. auto: bf16 where the device computes it natively, else fp32;
    # fp16 (GPUs without bf16: T4, V100) scales the loss with torch's GradScaler.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # auto: adamw, or the method's choice on a GPU (qlora: paged_adamw_32bit, as in the paper).
    # The 8-bit and paged ones are bitsandbytes', adafactor is transformers', the rest torch's.
    optimizer: Literal["auto", "adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "adafactor", "sgd"] = "auto"
    validation: ValidationSpec | None = None
    select_best: str | None = None  # "loss" or a validation metric: end with the best check's weights
    save: bool = False  # save the trained weights (adapters only, for adapter methods) beside the record
    # Save the training state every N steps (DIR/checkpoints), so a variant killed mid-training
    # resumes from there on its rerun and ends with the loss curve of an unbroken run
    # (harness/train/checkpoint.py). Not with a seconds budget or resources.gpus > 1. Neither
    # setting is part of the variant's id: they change how it runs, not what it computes.
    checkpoint_every: int | None = Field(default=None, gt=0)
    keep_checkpoints: bool = False  # keep the last checkpoint once the record is written (default: removed)
    # Recompute each layer's activations during backward instead of keeping them (transformers'
    # activation checkpointing, harness/train/footprint.py): far less activation memory for
    # about a third more compute, the same loss. Every method that trains through the model.
    gradient_checkpointing: bool = False
    # What the stage minimises. sft: the cross-entropy of the completion (supervised tuning).
    # dpo: a preference loss on rows of prompt, chosen and rejected (harness/train/preference.py),
    # trl's formula named by loss_type; the reference is the model this stage starts from.
    objective: Literal["sft", "dpo"] = "sft"
    # sigmoid is DPO (Rafailov et al., 2023); the others as trl implements them. simpo and orpo
    # need no reference model (they compare the policy's own length-normalised log-probabilities).
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero",
                       "apo_down", "simpo", "orpo"] = "sigmoid"
    beta: float = Field(default=0.1, gt=0)  # DPO's beta (trl's default); ipo's tau; orpo's lambda
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)  # robust: the share of labels taken to be flipped
    simpo_gamma: float = Field(default=0.5, ge=0)  # simpo: the target reward margin (trl's default)

    def datasets(self) -> list[MixtureItem]:
        """What this stage trains on, each dataset as a mixture item (plain data is a mixture
        of one, weight 1) with the stage's limit filled in: the one walk over a stage's data
        that training, class labels, contamination counts and fingerprints all take."""
        if self.mixture is not None:
            return [m.model_copy(update={"limit": m.limit or self.limit}) for m in self.mixture]
        if self.data is None:
            return []
        return [MixtureItem(data=self.data, split=self.split, template=self.template, columns=self.columns, limit=self.limit)]

    @model_validator(mode="after")
    def _consistent(self):
        if self.data is not None and self.mixture is not None:
            raise ValueError("give data or mixture, not both")
        if self.mixture is not None and self.validation is not None and self.validation.data is None:
            raise ValueError("with a mixture, validation needs its own data")
        if self.select_best is not None:
            if self.validation is None:
                raise ValueError("select_best needs a validation block")
            if self.select_best != "loss" and self.select_best not in self.validation.metrics:
                raise ValueError(f"select_best must be 'loss' or one of validation.metrics, got {self.select_best!r}")
        if self.objective == "sft":
            changed = [k for k in PREFERENCE_SETTINGS[1:] if getattr(self, k) != type(self).model_fields[k].default]
            if changed:
                raise ValueError(f"{', '.join(changed)} set a preference loss: add objective: dpo, or leave them out")
        else:
            if self.label or self.labels:
                raise ValueError("objective dpo tunes the language model on preference pairs; label is for linear_probe")
            if self.validation is not None:
                raise ValueError("validation checks score the supervised loss; score a dpo stage with an eval of "
                                 "kind: preference on held-out pairs instead")
            if self.label_smoothing and self.loss_type != "robust":
                raise ValueError(f"label_smoothing applies to loss_type robust, not {self.loss_type}")
        if self.checkpoint_every is not None and self.budget is not None and self.budget.kind == "seconds":
            raise ValueError("checkpoint_every cannot resume a seconds budget exactly (the steps it reaches depend on "
                             "the clock): give a steps or tokens budget, or leave checkpoint_every out")
        return self


_MEMORY = r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$"
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_bytes(text: str) -> int:
    """'20GiB' -> 21474836480; '512 MB' -> 512000000; a bare number is bytes."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$", text)
    if match is None or match.group(2).upper() not in {**_UNITS, "": 1}:
        raise ValueError(f"{text!r} is not an amount of memory such as 20GiB or 512MB")
    return int(float(match.group(1)) * _UNITS.get(match.group(2).upper(), 1))


class ResourcesSpec(_Strict):
    """What one variant needs of the machine (harness/run/slots.py schedules by it)."""

    gpus: int = Field(default=1, ge=1)  # more than one: trained across them (see DistributedSpec)
    # GPU memory the variant needs, e.g. "20GiB"; default: an estimate from the model's size,
    # the method, dtypes, batch and sequence length (harness/run/memory.py). Variants share
    # a GPU while their needs fit in its memory.
    gpu_memory: Annotated[str, Field(pattern=_MEMORY)] | None = None

    @property
    def gpu_memory_bytes(self) -> int | None:
        return memory_bytes(self.gpu_memory) if self.gpu_memory is not None else None


class DistributedSpec(BaseModel):
    """How a variant with resources.gpus > 1 trains across its GPUs, under accelerate.

    Any key besides `strategy` passes to accelerate's FullyShardedDataParallelPlugin (fsdp)
    or DeepSpeedPlugin (deepspeed) as is, e.g. {strategy: deepspeed, zero_stage: 3}.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    strategy: Literal["ddp", "fsdp", "deepspeed"] = "ddp"


def _all_optional(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """The same fields, every one optional with default None (constraints kept)."""
    fields: dict[str, Any] = {}
    for n, f in model.model_fields.items():
        if f.annotation is None:  # a field declared in a class body always has one
            raise TypeError(f"{model.__name__}.{n} has no annotation")
        fields[n] = (f.annotation | None, FieldInfo.merge_field_infos(f, default=None))
    return create_model(name, __base__=_Strict, __doc__=doc, **fields)


if TYPE_CHECKING:
    # Built at runtime, so a type checker cannot see its fields: to it, a strict model.
    class TrainOverride(_Strict):
        """A method entry's `train:` block: any TrainSpec field, all optional."""
else:
    TrainOverride = _all_optional(
        TrainSpec, "TrainOverride", "A method entry's `train:` block: any TrainSpec field, all optional.")

TRAIN_FIELDS = frozenset(TrainSpec.model_fields)
# How a run is saved, not what it computes: out of a variant's id (plan.py) and of a
# checkpoint's fingerprint (train/checkpoint.py), so changing them keeps both.
CHECKPOINT_SETTINGS = ("checkpoint_every", "keep_checkpoints")
# A preference loss's settings: out of a supervised stage's id, so adding them kept every id.
PREFERENCE_SETTINGS = ("objective", "loss_type", "beta", "label_smoothing", "simpo_gamma")


class SearchSpec(_Strict):
    """Each method at its best: a short run per learning rate, scored on held-out data (the
    validation split, never an eval's), and the variant then trains at the rate that won
    (harness/run/search.py). The record and the leaderboard show the values, the scores and
    the choice."""

    learning_rate: list[Annotated[float, Field(gt=0)]] = Field(min_length=2)
    metric: str = "loss"  # "loss" (validation loss per completion token) or a generation metric (rouge1...)
    data: str | None = None  # default: the training data
    split: str = "validation"
    limit: int = Field(default=64, gt=0)  # held-out examples scored per value
    # Steps of each short run; default: a quarter of the final run's, at least 20 (never more
    # than the final run's). The record says how many ran.
    steps: int | None = Field(default=None, gt=0)
    max_new_tokens: int = Field(default=64, gt=0)  # for a generation metric


class MethodSpec(_Strict):
    """One tuning method; each entry (times sweep values, times seeds) is a variant."""

    name: str | None = Field(default=None, pattern=_NAME)  # default: the method's name
    method: str  # a registered method (harness ls methods)
    params: dict[str, Any] = {}  # the method's own parameters, checked by its validator
    train: TrainOverride = TrainOverride()
    # Train in order, each stage overriding the variant's train settings (its own data,
    # steps, rate...): e.g. language-model fine-tuning on raw text, then the task.
    stages: list[TrainOverride] = []
    # Lists of values, one variant each: a params key, a train field, or "params.K"/"train.K".
    sweep: dict[str, list[Any]] = {}
    resources: ResourcesSpec | None = None  # default: the suite's
    distributed: DistributedSpec | None = None  # default: the suite's
    search: SearchSpec | None = None  # default: the suite's (a learning-rate search per variant)

    @field_validator("sweep")
    @classmethod
    def _non_empty_lists(cls, sweep: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in sweep.items():
            if not values:
                raise ValueError(f"sweep {key!r} has no values")
        return sweep


class EvalSpec(_Strict):
    # Key of this eval's scores in the record; the planner names each template's eval NAME@k.
    name: str = Field(pattern=_NAME[:-1] + r"(@[0-9]+)?$")
    data: str
    split: str = "test"
    # generation: decode and compare with references. classification: pick one of `labels`
    # (a probe's head, or else the label whose text is most likely after the prompt).
    # multiple_choice: the most likely choice (MMLU-style). lm_eval: any lm-eval task, run by lm-eval.
    # A registered eval kind (harness ls eval-kinds); plugins may add more.
    kind: str = "generation"
    subjects: list[str] | None = None  # multiple_choice on mmlu:FOLDER: these subjects (default: all)
    shots: int = Field(default=0, ge=0)  # multiple_choice: examples from the dev split before each question
    # multiple_choice: letters scores " A".." D" after lettered choices (lm-eval's mmlu);
    # continuation scores each choice's text after "Answer:" (lm-eval's mmlu_continuation).
    format: Literal["letters", "continuation"] = "letters"
    task: str | None = None  # lm_eval: a task name, or a task YAML file (with include_path)
    include_path: str | None = None  # lm_eval: folder of task YAMLs
    # A forgetting check: scored on the base model and every variant, the change recorded
    # with a paired interval.
    retention: bool = False
    label: str | None = None  # classification: the column holding the gold class
    labels: list[str] | None = Field(default=None, min_length=2)  # classification: the classes (default: from the data)
    template: Templates | None = None  # default: the train template, else the task's own
    columns: dict[str, str] = {}  # new name -> existing column, as in train.columns
    # Where the references are (default: the rendered completion): a column holding one
    # reference or a list of them, or several columns of one reference each
    # ([summary1, summary2, summary3], as DialogSum ships them). With references set, only
    # the template's prompt is rendered, so the data need not have the completion's fields.
    references: str | list[str] | None = Field(default=None, min_length=1)
    metrics: list[str] = Field(min_length=1)
    # Keyword arguments per metric, e.g. {exact_match: {normalize: false}}.
    metric_args: dict[str, dict[str, Any]] = {}
    limit: int | None = Field(default=None, gt=0)  # score at most this many examples
    max_new_tokens: int = Field(default=64, gt=0)
    stop: list[str] = ["\n"]  # generation ends at the first of these
    # Wrap prompts in the chat template. Default: as in training (generation and
    # classification evals); multiple_choice and lm_eval keep their reference formats
    # (lm-eval's plain prompts) unless this is set.
    chat: bool | None = None

    batch_size: int = Field(default=8, gt=0)


# torch.manual_seed takes a 64-bit integer: a larger seed would pass validation, then fail the run.
SEED_LIMIT = 2**63


class DriftProbeSpec(_Strict):
    """Samples the base model draws from fixed generic prompts, scored under each tuned
    model: the mean per-token log-probability drop estimates KL(base || tuned)."""

    prompts: int = Field(default=16, gt=0)  # how many of the built-in generic prompts
    samples: int = Field(default=1, gt=0)  # samples per prompt
    max_new_tokens: int = Field(default=32, gt=0)
    seed: int = Field(default=0, ge=0, lt=SEED_LIMIT)


_TOLERANCE = r"^\d+(\.\d+)?%$"  # a relative tolerance: "5%" of the baseline's value


class CheckSpec(_Strict):
    """How `harness check` judges this suite's results against a baseline (harness/gate).

    A metric regresses when it dropped by more than its tolerance and the drop is
    significant on the paired per-example scores at `alpha`, Holm-corrected over every
    comparison. Tolerances are keyed by METRIC or EVAL/METRIC ("*" for every metric): a
    number is absolute, on the metric's own scale; "N%" is relative to the baseline's value.
    """

    alpha: float = Field(default=0.05, gt=0, lt=1)
    tolerance: dict[str, float | Annotated[str, Field(pattern=_TOLERANCE)]] = {}

    @field_validator("tolerance")
    @classmethod
    def _non_negative(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, tol in value.items():
            if isinstance(tol, (int, float)) and tol < 0:
                raise ValueError(f"tolerance of {key!r} is {tol}; a tolerance is 0 or more")
        return value


class BaselinesSpec(_Strict):
    """The untuned model's variants: zero-shot always (named baseline), and in-context ones
    (baseline-5shot...) whose generation prompts open with k training examples, so the
    leaderboard says whether tuning beats few-shot prompting."""

    shots: list[Annotated[int, Field(ge=0)]] = [0]
    # Shots are drawn once from the training data (train.data, its train split) with this
    # seed, and every eval example sees the same ones; fewer when they do not fit the model's
    # context, and the record says how many each example got.
    seed: int = 1234  # lm-eval's few-shot seed


# The experiment trackers a finished variant can be logged to, from its record (harness/track,
# which holds how each one writes and which package it needs).
TrackerName = Literal["tensorboard", "mlflow", "wandb"]
TRACKERS: tuple[str, ...] = get_args(TrackerName)


class Suite(_Strict):
    name: str = Field(pattern=_NAME)  # results/<name>/ and leaderboards/<name>.html
    description: str = ""
    model: str | list[str]  # built-in name | hub id[@REVISION] | local path; a list makes one matrix per model
    train: TrainSpec | None = None
    seeds: list[Annotated[int, Field(ge=0, lt=SEED_LIMIT)]] = Field(default=[0], min_length=1)
    # torch threads; pin it for numbers that repeat (bounded: torch takes a 32-bit count, and
    # more threads than any machine has cores would only be slower)
    threads: int | None = Field(default=None, gt=0, le=4096)
    # fp32 by default so scores equal the reference implementations; bf16 is a speed mode,
    # recorded with the scores.
    eval_dtype: Literal["fp32", "bf16"] = "fp32"
    # The dtype weights load in. auto: bf16 on a GPU that has it, fp32 elsewhere (on a CPU,
    # so scores keep equalling the reference implementations); recorded with the scores.
    load_dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # Run Python code shipped with a model folder or hub repository (its config's auto_map).
    # Off: such code is never imported (transformers refuses, or uses its own class for the
    # architecture). On only when the suite says so; every record then says it was on.
    trust_remote_code: bool = False
    # What each variant needs (a method entry may override): GPUs, GPU memory. Scheduling
    # only: not part of any variant's id, like the device it lands on.
    resources: ResourcesSpec = ResourcesSpec()
    distributed: DistributedSpec | None = None  # strategy across a variant's GPUs (default ddp)
    drift_probe: DriftProbeSpec | None = None  # forgetting without data: see DriftProbeSpec
    baselines: BaselinesSpec = BaselinesSpec()  # few-shot baselines besides the zero-shot one
    search: SearchSpec | None = None  # a learning-rate search for every method (an entry may set its own)
    methods: list[MethodSpec] = []
    evals: list[EvalSpec] = Field(min_length=1)
    check: CheckSpec = CheckSpec()  # tolerances for `harness check` (not part of any variant's id)
    # Seconds a variant may run before it is stopped and recorded as failed, saying so
    # (`harness run --timeout` overrides; not part of any variant's id).
    timeout: float | None = Field(default=None, gt=0)
    # Experiment trackers each finished variant is logged to, from its record (harness/track):
    # tensorboard, mlflow, wandb (`harness run --tracker` adds more). Where a run is reported,
    # not what it computes: not part of any variant's id.
    trackers: list[TrackerName] = []

    @field_validator("evals")
    @classmethod
    def _names_without_mark(cls, evals: list[EvalSpec]) -> list[EvalSpec]:
        for ev in evals:
            if TEMPLATE_MARK in ev.name:
                raise ValueError(f"eval name {ev.name!r}: {TEMPLATE_MARK!r} is kept for the evals of several templates")
        return evals

    @field_validator("trackers")
    @classmethod
    def _each_tracker_once(cls, trackers: list[str]) -> list[str]:
        twice = sorted({t for t in trackers if trackers.count(t) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once; each tracker logs every variant once")
        return trackers

    @property
    def models(self) -> list[str]:
        return [self.model] if isinstance(self.model, str) else list(self.model)


class LoadedSuite(BaseModel):
    """A validated suite and where it came from (paths in it resolve from base_dir)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    suite: Suite
    path: Path
    base_dir: Path
    raw: dict[str, Any]
    notes: list[str] = []  # things not checked (hub ids offline), said instead of failing
    overrides: list[str] = []  # `--set key.path=value`, applied to `raw` before it was validated
    from_file: bool = True  # False: given as a mapping (harness.load_suite(dict)); `path` then names no file
