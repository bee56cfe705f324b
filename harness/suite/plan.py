"""Suite -> [Variant]: the matrix (models x methods x sweep values x seeds, plus one
baseline per model), defaults merged with overrides in one place, and stable ids.

Train settings are layered, later wins: TrainSpec's defaults, then the method's own
defaults (full fine-tuning wants a lower rate than LoRA), then what the suite's `train:`
block sets, then the method entry's `train:`, then sweep values. A variant's id hashes its
fully resolved spec and the content of the data it reads; never absolute paths, the git
commit, or what the hardware chose (device, precision under "auto"). Settings added after
the first format (load_dtype, optimizer, budget) join the hash only when set, so ids of
suites that do not set them stay what they were; resources and distribution are where and
how a variant runs, not what it computes, and stay out of it, as do checkpoint_every and
keep_checkpoints (a resumed run computes what an unbroken one does) and the suite's trackers
(where a finished run is reported).

Hub references are pinned here: each hf: dataset a variant reads becomes hf:...@COMMIT, the
commit its revision (or default branch) names now (harness/data/hub.py), so its fingerprint
and the run see the same content; a hub model's commit is the variant's model_commit. Both
join the id only when a commit was found, so suites without hub references, and hub
references whose commit cannot be had (offline, not cached), keep the ids they had.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from harness import models
from harness.data import sources
from harness.data.builtin import default_template
from harness.data.templates import parse_template
from harness.registry import EVAL_KINDS, METHODS
from harness.suite.schema import (
    CHECKPOINT_SETTINGS,
    PREFERENCE_SETTINGS,
    TEMPLATE_MARK,
    TRAIN_FIELDS,
    EvalSpec,
    LoadedSuite,
    MethodSpec,
    SearchSpec,
    Suite,
    TemplateSpec,
    TrainSpec,
)
from harness.suite.variant import Shots, Variant

ID_LENGTH = 10  # hex digits of sha256: collisions are negligible within one suite


def plan(loaded: LoadedSuite) -> list[Variant]:
    suite, base_dir = loaded.suite, loaded.base_dir
    variants: list[Variant] = []
    for model in suite.models:
        found = models.hub_commit(model, base_dir)
        commit = found.commit if found is not None else None
        chat = models.has_chat_template(model, base_dir, revision=commit)
        variants.append(_variant(suite, base_dir, model, "baseline", "baseline", {}, [], suite.seeds[0], chat,
                                 model_commit=commit))
        for k in sorted(set(suite.baselines.shots) - {0}):
            variants.append(_variant(suite, base_dir, model, "baseline", f"baseline-{k}shot", {"shots": k}, [],
                                     suite.seeds[0], chat, shots=shot_source(suite, k), model_commit=commit))
        for entry in suite.methods:
            placement = {"resources": entry.resources or suite.resources, "distributed": entry.distributed or suite.distributed}
            for name, params, stages in expand_sweep(suite, entry):
                search = entry.search or suite.search
                for seed in suite.seeds:
                    variant = _variant(suite, base_dir, model, entry.method, name, params, stages, seed, chat,
                                       search=search, model_commit=commit)
                    variants.append(variant.model_copy(update=placement))
    return variants


def shot_source(suite: Suite, k: int) -> Shots:
    """Where an in-context baseline's k examples come from: the suite's training data, as
    the tuned variants see it (its split, columns and template). suite/checks.py has made
    sure there is one."""
    train = suite.train
    if train is None or train.data is None:
        raise ValueError("baselines.shots needs train.data")  # checks.py reports it first, with its path
    return Shots(k=k, data=train.data, split=train.split, columns=train.columns,
                 template=template_of(train.template, train.data), seed=suite.baselines.seed)


def eval_chat(ev: EvalSpec, suite_train: TrainSpec | None, model_chat: bool | None) -> bool | None:
    """An eval's chat setting: its own, else the suite's train chat when set, else the
    model's (a chat template when it has one) for kinds scored on templated prompts; the
    kinds with a reference format (lm-eval's plain prompts) stay plain."""
    if ev.chat is not None:
        return ev.chat
    if suite_train is not None and suite_train.chat is not None:
        return suite_train.chat
    return model_chat if EVAL_KINDS.meta(ev.kind, "chat_default", False) else False


def expand_sweep(suite: Suite, entry: MethodSpec) -> list[tuple[str, dict[str, Any], list[TrainSpec]]]:
    """One (name, params, resolved stages) per combination of the entry's sweep values."""
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
        stage_overrides = [st.model_dump(exclude_unset=True) for st in entry.stages]
        out.append((name + suffix, resolved, resolve_stages(suite, entry.method, train_over, stage_overrides)))
    return out


def sweep_target(key: str) -> tuple[str, str]:
    """'train.learning_rate' / 'params.r' explicitly, else a TrainSpec field name goes to train."""
    head, _, rest = key.partition(".")
    if rest and head in ("train", "params"):
        return head, rest
    return ("train" if key in TRAIN_FIELDS else "params"), key


def _merge(layers: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(layers)
    if "mixture" in override:  # a mixture replaces single data, and the other way round
        out.pop("data", None)
    if "data" in override:
        out.pop("mixture", None)
    out.update(override)
    return out


def resolve_stages(suite: Suite, method: str, override: dict[str, Any], stages: list[dict[str, Any]]) -> list[TrainSpec]:
    """The train settings of each stage, layered (see the module docstring), templates resolved."""
    layers: dict[str, Any] = dict(METHODS.load(method).train_defaults)
    if suite.train is not None:
        layers = _merge(layers, suite.train.model_dump(exclude_unset=True))
    layers = _merge(layers, override)
    return [_finish(TrainSpec.model_validate(_merge(layers, stage))) for stage in (stages or [{}])]


def _finish(spec: TrainSpec) -> TrainSpec:
    if spec.mixture is not None:
        mixture = [m.model_copy(update={"template": template_of(m.template, m.data)}) for m in spec.mixture]
        return spec.model_copy(update={"mixture": mixture, "template": None})
    return spec.model_copy(update={"template": template_of(spec.template, spec.data, spec.objective != "sft")})


def template_of(value: Any, data_ref: str | None, preference: bool = False) -> Any:
    """The template a variant uses, resolved to its two parts (so the id sees the text); a
    list of several stays a list of them (a list of one is that one).

    A `text` template is learned whole: it becomes an empty prompt and the text as completion.
    """
    if isinstance(value, list):
        resolved = [template_of(v, data_ref, preference) for v in value]
        return resolved if len(resolved) > 1 else resolved[0]
    if isinstance(value, TemplateSpec):
        return TemplateSpec(prompt="", completion=value.text) if value.text is not None else value
    t = parse_template(value) if value is not None else default_template(data_ref or "", preference)
    return TemplateSpec(prompt=t.prompt, completion=t.completion)


def search_data(search: SearchSpec | None, stages: list[TrainSpec]) -> str | None:
    """The data a learning-rate search scores on: its own, else the (last) stage's training data."""
    if search is None or not stages:
        return None
    return search.data or stages[-1].data


def data_reads(stage: TrainSpec) -> list[tuple[str, str]]:
    """Every (data, split) a training stage reads: its data or mixture, and its validation data."""
    reads: list[tuple[str | None, str]] = [(d.data, d.split) for d in stage.datasets()]
    if stage.validation is not None:
        reads.append((stage.validation.data or stage.data, stage.validation.split))
    return [(d, s) for d, s in reads if d]


def _pinned(spec: Any, **refs: str | None) -> Any:
    """`spec` with the given data references pinned (sources.pinned); itself when none changes."""
    update = {key: sources.pinned(ref) for key, ref in refs.items() if ref is not None}
    update = {key: ref for key, ref in update.items() if ref != refs[key]}
    return spec.model_copy(update=update) if update else spec


def _pinned_stage(stage: TrainSpec) -> TrainSpec:
    """A stage reading its hub data (plain, mixture, validation) at the commits found now."""
    stage = _pinned(stage, data=stage.data)
    if stage.mixture is not None:
        stage = stage.model_copy(update={"mixture": [_pinned(m, data=m.data) for m in stage.mixture]})
    if stage.validation is not None:
        stage = stage.model_copy(update={"validation": _pinned(stage.validation, data=stage.validation.data)})
    return stage


def _variant(suite: Suite, base_dir: Path, model: str, method: str, name: str, params: dict[str, Any],
             stages: list[TrainSpec], seed: int, chat: bool | None, shots: Shots | None = None,
             search: SearchSpec | None = None, model_commit: str | None = None) -> Variant:
    fingerprints: dict[str, str] = {}
    # None (the model's default) becomes whether it has a chat template, where that is known
    # here; otherwise the worker asks its tokenizer.
    stages = [_pinned_stage(st.model_copy(update={"chat": chat}) if st.chat is None else st) for st in stages]
    shots = _pinned(shots, data=shots.data) if shots is not None else None
    search = _pinned(search, data=search.data) if search is not None else None
    if shots is not None:
        fingerprints[f"{shots.data}|{shots.split}"] = sources.fingerprint(shots.data, shots.split, base_dir)
    held_out = search_data(search, stages)
    if search is not None and held_out is not None:
        fingerprints[f"{held_out}|{search.split}"] = sources.fingerprint(held_out, search.split, base_dir)
    for stage in stages:
        for data, split in data_reads(stage):
            fingerprints[f"{data}|{split}"] = sources.fingerprint(data, split, base_dir)
    suite_train = suite.train
    evals = []
    for ev in suite.evals:
        ev = _pinned(ev, data=ev.data)
        chosen = ev.template if ev.template is not None else (suite_train.template if suite_train else None)
        template = template_of(chosen, ev.data, ev.kind == "preference")
        chat_on = eval_chat(ev, suite_train, chat)
        if isinstance(template, list):  # scored once per template: NAME@1, NAME@2... (a name never has "@")
            evals += [ev.model_copy(update={"name": f"{ev.name}{TEMPLATE_MARK}{j}", "template": t, "chat": chat_on})
                      for j, t in enumerate(template, 1)]
        else:
            evals.append(ev.model_copy(update={"template": template, "chat": chat_on}))
        fingerprints[f"{ev.data}|{ev.split}"] = sources.fingerprint(ev.data, ev.split, base_dir)
    body: dict[str, Any] = {
        "suite": suite.name, "name": name, "model": model, "method": method, "params": params, "seed": seed,
        "stages": [st.model_dump(mode="json") for st in stages],
        "evals": [e.model_dump(mode="json") for e in evals],
        "fingerprints": fingerprints, "threads": suite.threads, "eval_dtype": suite.eval_dtype,
        "drift_probe": suite.drift_probe.model_dump() if suite.drift_probe else None,
        "load_dtype": suite.load_dtype,
        **({"trust_remote_code": True} if suite.trust_remote_code else {}),
        **({"shots": shots.model_dump(mode="json")} if shots is not None else {}),
        **({"search": search.model_dump(mode="json")} if search is not None else {}),
        **({"model_commit": model_commit} if model_commit is not None else {}),
    }
    return Variant(id=variant_id(body), base_dir=str(base_dir), resources=suite.resources, **body)


def variant_id(body: dict[str, Any]) -> str:
    """Hash of the resolved spec with local data paths replaced by their content hashes."""
    def portable(ref: str | None) -> str | None:
        return "local-file" if ref is not None and sources.is_local_ref(ref) else ref

    canonical = json.loads(json.dumps(body, sort_keys=True, default=str))
    if canonical.get("load_dtype") == "auto":
        del canonical["load_dtype"]
    for stage in canonical["stages"]:
        if stage.get("optimizer") == "auto":
            del stage["optimizer"]
        if stage.get("budget") is None:
            stage.pop("budget", None)
        if not stage.get("gradient_checkpointing"):  # added later: ids without it stay as they were
            stage.pop("gradient_checkpointing", None)
        for setting in CHECKPOINT_SETTINGS + (PREFERENCE_SETTINGS if stage.get("objective", "sft") == "sft" else ()):
            stage.pop(setting, None)
        stage["data"] = portable(stage["data"])
        for item in stage["mixture"] or []:
            item["data"] = portable(item["data"])
        if stage["validation"]:
            stage["validation"]["data"] = portable(stage["validation"]["data"])
    for ev in canonical["evals"]:
        ev["data"] = portable(ev["data"])
    if canonical.get("shots"):
        canonical["shots"]["data"] = portable(canonical["shots"]["data"])
    if canonical.get("search"):
        canonical["search"]["data"] = portable(canonical["search"]["data"])
    canonical["fingerprints"] = sorted(canonical["fingerprints"].values())
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{body['name']}-{digest[:ID_LENGTH]}"
