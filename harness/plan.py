"""Suite -> [Variant]: the matrix (models x methods x sweep values x seeds, plus one
baseline per model), defaults merged with overrides in one place, and stable ids.

Train settings are layered, later wins: TrainSpec's defaults, then the method's own
defaults (full fine-tuning wants a lower rate than LoRA), then what the suite's `train:`
block sets, then the method entry's `train:`, then sweep values. A variant's id hashes its
fully resolved spec and the content of the data it reads; never absolute paths, the git
commit, or what the hardware chose (device, precision under "auto").
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.data import sources
from harness.data.builtin import BUILTIN_TASKS
from harness.data.templates import DEFAULT_TEMPLATE, Template, parse_template
from harness.registry import METHODS
from harness.results import Record
from harness.spec import TRAIN_FIELDS, EvalSpec, LoadedSuite, MethodSpec, Suite, TemplateSpec, TrainSpec

ID_LENGTH = 10  # hex digits of sha256: collisions are negligible within one suite


class Variant(BaseModel):
    """One unit of work: a model, a method with its params, a seed, its train and evals."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    suite: str
    name: str
    model: str
    method: str
    params: dict[str, Any]
    seed: int
    train: TrainSpec | None  # resolved; None for the baseline
    evals: list[EvalSpec]  # templates resolved to {prompt, completion}
    fingerprints: dict[str, str]  # data reference + split -> content hash
    threads: int | None = None
    base_dir: str = "."  # where relative paths resolve; not part of the id

    def label(self) -> str:
        return f"{self.name} (seed {self.seed})" if self.method != "baseline" else self.name

    def new_record(self, **fields: Any) -> Record:
        """A record for this variant, failed until the worker says otherwise."""
        return Record(
            suite=self.suite, variant_id=self.id, name=self.name, model=self.model, method=self.method,
            params=self.params, seed=self.seed, spec=self.model_dump(mode="json", exclude={"base_dir"}),
            **{"status": "failed", **fields},
        )


def plan(loaded: LoadedSuite) -> list[Variant]:
    suite, base_dir = loaded.suite, loaded.base_dir
    variants: list[Variant] = []
    for model in suite.models:
        variants.append(_variant(suite, base_dir, model, "baseline", "baseline", {}, None, suite.seeds[0]))
        for entry in suite.methods:
            for name, params, train in expand_sweep(suite, entry):
                for seed in suite.seeds:
                    variants.append(_variant(suite, base_dir, model, entry.method, name, params, train, seed))
    return variants


def expand_sweep(suite: Suite, entry: MethodSpec) -> list[tuple[str, dict[str, Any], TrainSpec]]:
    """One (name, params, resolved train) per combination of the entry's sweep values."""
    name = entry.name or entry.method
    keys = list(entry.sweep)
    out = []
    for values in itertools.product(*(entry.sweep[k] for k in keys)):
        params = dict(entry.params)
        train_over = entry.train.model_dump(exclude_unset=True)
        suffix = ""
        for key, value in zip(keys, values):
            where, field = sweep_target(key)
            (train_over if where == "train" else params)[field] = value
            suffix += f"-{field}{value}"
        # The method's defaults filled in, so the record says what ran and the id sees it.
        resolved = METHODS.load(entry.method).parse(params).model_dump(mode="json")
        out.append((name + suffix, resolved, resolve_train(suite, entry.method, train_over)))
    return out


def sweep_target(key: str) -> tuple[str, str]:
    """'train.learning_rate' / 'params.r' explicitly, else a TrainSpec field name goes to train."""
    head, _, rest = key.partition(".")
    if rest and head in ("train", "params"):
        return head, rest
    return ("train" if key in TRAIN_FIELDS else "params"), key


def resolve_train(suite: Suite, method: str, override: dict[str, Any]) -> TrainSpec:
    layers: dict[str, Any] = dict(METHODS.load(method).train_defaults)
    if suite.train is not None:
        layers.update(suite.train.model_dump(exclude_unset=True))
    layers.update(override)
    return TrainSpec.model_validate(layers)


def default_template(data_ref: str) -> Template:
    if data_ref.startswith("builtin:") and data_ref[8:] in BUILTIN_TASKS:
        return BUILTIN_TASKS[data_ref[8:]].default_template
    return DEFAULT_TEMPLATE


def template_of(value: TemplateSpec | str | None, data_ref: str | None) -> TemplateSpec:
    """The template a variant uses, resolved to its two parts (so the id sees the text)."""
    if isinstance(value, TemplateSpec):
        return value
    t = parse_template(value) if value is not None else default_template(data_ref or "")
    return TemplateSpec(prompt=t.prompt, completion=t.completion)


def _variant(suite: Suite, base_dir: Path, model: str, method: str, name: str, params: dict[str, Any],
             train: TrainSpec | None, seed: int) -> Variant:
    fingerprints: dict[str, str] = {}
    if train is not None:
        train = train.model_copy(update={"template": template_of(train.template, train.data)})
        fingerprints[f"{train.data}|{train.split}"] = sources.fingerprint(train.data, train.split, base_dir)
    suite_template = suite.train.template if suite.train is not None else None
    evals = []
    for ev in suite.evals:
        chosen = ev.template if ev.template is not None else suite_template
        evals.append(ev.model_copy(update={"template": template_of(chosen, ev.data)}))
        fingerprints[f"{ev.data}|{ev.split}"] = sources.fingerprint(ev.data, ev.split, base_dir)
    body = {
        "suite": suite.name, "name": name, "model": model, "method": method, "params": params, "seed": seed,
        "train": train.model_dump(mode="json") if train else None,
        "evals": [e.model_dump(mode="json") for e in evals],
        "fingerprints": fingerprints, "threads": suite.threads,
    }
    return Variant(id=variant_id(body), base_dir=str(base_dir), **body)


def variant_id(body: dict[str, Any]) -> str:
    """Hash of the resolved spec with local data paths replaced by their content hashes."""
    def portable(ref: str | None) -> str | None:
        return "local-file" if ref is not None and sources.is_local_ref(ref) else ref

    canonical = json.loads(json.dumps(body, sort_keys=True, default=str))
    if canonical["train"]:
        canonical["train"]["data"] = portable(canonical["train"]["data"])
    for ev in canonical["evals"]:
        ev["data"] = portable(ev["data"])
    canonical["fingerprints"] = sorted(canonical["fingerprints"].values())
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{body['name']}-{digest[:ID_LENGTH]}"
