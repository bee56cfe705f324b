"""Checks of a suite beyond its structure: names, references, params, templates vs data.

It walks the raw YAML tree (so it runs even where pydantic found structural problems, and
every problem is reported at once), checking only values of the right type and leaving
type errors to spec.py: nothing here has been type-checked yet, so every list is read
through _sequence, every mapping through _mapping and every name after an isinstance (a
suite may say `evals: true` or `metrics: 3.5`). Returns (problems, notes); notes are things
that cannot be checked here, such as hub ids offline, said instead of failing. Imports no torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from harness import models
from harness.data import sources
from harness.data.builtin import default_template
from harness.data.hub import Resolved
from harness.data.templates import parse_template, template_fields
from harness.errors import HarnessError, Problem, short_repr
from harness.models.family import FAMILIES, eval_kinds
from harness.registry import EVAL_KINDS, METHODS, METRICS, MODELS, TASKS, load_target
from harness.suite.schema import TRAIN_FIELDS, EvalSpec, Suite, TemplateSpec, TrainOverride
from harness.track.trackers import TRACKERS, missing_package


def check_suite(raw: dict[str, Any], suite: Suite | None, base_dir: Path) -> tuple[list[Problem], list[str]]:
    """Problems and notes of a suite's YAML tree, its ${VAR}s already expanded."""
    c = _Checker(base_dir)
    c.models(raw.get("model"))
    train = _mapping(raw.get("train"))
    methods = _sequence(raw.get("methods"))
    c.train_block("train", train, {})
    names: dict[str, int] = {}
    for i, entry in enumerate(methods):
        if isinstance(entry, dict):
            c.method(f"methods[{i}]", entry, train)
            names = c.unique_names(f"methods[{i}]", entry, names)
    for i, ev in enumerate(_sequence(raw.get("evals"))):
        if isinstance(ev, dict):
            c.eval(f"evals[{i}]", ev, train.get("template"))
    if suite is not None:
        c.resolved_stages(suite)
        c.baselines(suite)
        c.searches(suite)
    c.trackers(raw.get("trackers"))
    return c.problems, c.notes


def _mapping(value: Any) -> dict[str, Any]:
    """A YAML mapping as it is; anything else (a wrong type, or absent) as an empty one."""
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    """A YAML list as it is; anything else as an empty one."""
    return value if isinstance(value, list) else []


def _plain(template: Any) -> Any:
    """A resolved template as the mapping a suite would write."""
    return {"prompt": template.prompt, "completion": template.completion} if isinstance(template, TemplateSpec) else template


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


class _Checker:
    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.families: set[str] = set()  # of the suite's models, where known offline
        self.unpinned: set[str] = set()  # hub references already noted as not pinned to a commit

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def models(self, value: Any) -> None:
        refs = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for i, ref in enumerate(refs):
            path = "model" if isinstance(value, str) else f"model[{i}]"
            if not isinstance(ref, str):
                continue
            revision_problem = models.revision_problem(ref, self.base_dir)
            if revision_problem is not None:
                self.problem(path, revision_problem)
                continue
            kind = models.classify(ref, self.base_dir)
            name, _ = models.split_ref(ref, self.base_dir)
            if kind == "missing":
                self.problem(path, f"{MODELS.unknown_message(name)}; nor is it a local folder ({models.local_path(name, self.base_dir)}) or a hub id")
            elif kind == "hub":
                if "/" not in name and MODELS.closest(name):  # a typo of a built-in, not a hub id
                    self.problem(path, MODELS.unknown_message(name))
                else:
                    self.notes.append(f"{path}: {ref!r} is taken as a hub id; not checked offline")
                    self.pinned(path, ref, f"{name}@COMMIT_SHA", models.hub_commit(ref, self.base_dir), "model")
            elif kind == "local" and not (models.local_path(ref, self.base_dir) / "config.json").is_file():
                self.problem(path, f"folder {models.local_path(ref, self.base_dir)} has no config.json: not a model folder")
            family = models.offline_family(ref, self.base_dir)
            if family is not None:
                self.families.add(family)
        if {"causal", "encoder"} <= self.families:
            self.problem("model", "the suite mixes decoder and encoder models, which train differently (an encoder "
                                  "only as a classifier); put them in separate suites")

    def pinned(self, path: str, ref: str, pin: str, found: Resolved | None, what: str) -> None:
        """A note, once per reference, when a hub reference's commit could not be had: its
        variants' ids then hash the name alone, and a changed one on the hub reuses old results."""
        if found is None or found.commit is not None or ref in self.unpinned:
            return
        self.unpinned.add(ref)
        self.notes.append(f"{path}: {ref!r} is not pinned to a commit ({found.source}): the variant ids hash its "
                          f"name alone, so a {what} changed on the hub would reuse old results; pin it as {pin}")

    def extra(self, path: str, what: str, meta: dict[str, Any]) -> None:
        """A note when an optional package a method or eval kind needs (catalog meta `extra`)
        is not installed here: a note, not a problem, since the suite may run elsewhere (Ray
        workers, a GPU machine); here that variant fails alone, with the same fix. Asked of
        importlib.util.find_spec, which imports nothing."""
        if "extra" in meta and importlib.util.find_spec(meta["extra"][0]) is None:
            module, name = meta["extra"]
            self.notes.append(f"{path}: {what} needs the {module} package, which is not installed here (its variants "
                              f"fail on this machine): pip install 'harness[{name}]'")

    def trackers(self, value: Any) -> None:
        """Each tracker's package is installed (unknown names are the schema's to report)."""
        for i, name in enumerate(_sequence(value)):
            if isinstance(name, str) and name in TRACKERS and (why := missing_package(name)):
                self.problem(f"trackers[{i}]", why)

    def method(self, path: str, entry: dict[str, Any], train: dict[str, Any]) -> None:
        name = entry.get("method")
        if not isinstance(name, str):
            return
        if name == "baseline":
            self.problem(f"{path}.method", "the baseline is added to every suite; list only tuning methods")
            return
        if name not in METHODS:
            self.problem(f"{path}.method", METHODS.unknown_message(name))
            return
        self.extra(f"{path}.method", f"method {name}", METHODS.get(name).meta)
        method = METHODS.load(name)
        params = _mapping(entry.get("params"))
        for p in method.validate(params):
            self.problem(f"{path}.params.{p.path}" if p.path else f"{path}.params", p.message)
        sweep = _mapping(entry.get("sweep"))
        for key, values in sweep.items():
            self.sweep(f"{path}.sweep.{key}", str(key), values, method, params)
        over = _mapping(entry.get("train"))
        inherited = {**train, **over}
        self.train_block(f"{path}.train", over, train)
        for j, stage in enumerate(_sequence(entry.get("stages"))):
            if isinstance(stage, dict):
                self.train_block(f"{path}.stages[{j}]", stage, inherited)

    def train_block(self, path: str, block: dict[str, Any], inherited: dict[str, Any]) -> None:
        """The data a train block reads (its own, or a mixture), its template, its validation data and metrics."""
        template = block.get("template", inherited.get("template") if "data" not in block else None)
        label = block.get("label", inherited.get("label"))
        extra = {f"{path}.label": {label}} if isinstance(label, str) else None
        preference = block.get("objective", inherited.get("objective")) == "dpo"
        # A block that turns a stage into a dpo one reads its inherited data as pairs: check them.
        data = block.get("data", inherited.get("data") if preference and "objective" in block else None)
        if isinstance(data, str):
            self.data(path, data, block.get("split", inherited.get("split", "train")), template, extra,
                      block.get("columns", inherited.get("columns")), preference=preference)
        elif "data" in block or "mixture" in block:
            pass  # the block brings its own data: nothing inherited to re-check
        for k, item in enumerate(_sequence(block.get("mixture"))):
            if isinstance(item, dict) and isinstance(item.get("data"), str):
                self.data(f"{path}.mixture[{k}]", item["data"], item.get("split", "train"), item.get("template"),
                          mapping=item.get("columns"))
        v = block.get("validation")
        if isinstance(v, dict):
            for k, metric in enumerate(_sequence(v.get("metrics"))):
                if isinstance(metric, str) and metric not in METRICS:
                    self.problem(f"{path}.validation.metrics[{k}]", METRICS.unknown_message(metric))
            ref = v.get("data") or block.get("data") or inherited.get("data")
            if isinstance(ref, str):
                self.data(f"{path}.validation", ref, v.get("split", "validation"), template if not v.get("data") else None,
                          mapping=block.get("columns", inherited.get("columns")) if not v.get("data") else None)

    def baselines(self, suite: Suite) -> None:
        """In-context baselines draw their examples from the suite's training data, never
        from a split an eval scores."""
        if not any(suite.baselines.shots):
            return
        train = suite.train
        if train is None or train.data is None:
            self.problem("baselines.shots", "in-context examples are drawn from the training data: set train.data "
                                            "in the suite (a mixture or a method's own data has no one source)")
            return
        for i, ev in enumerate(suite.evals):
            if ev.data == train.data and ev.split == train.split and EVAL_KINDS.meta(ev.kind, "shots"):
                self.problem("baselines.shots", f"the examples would come from {train.data} ({train.split}), the split "
                                                f"evals[{i}] ({ev.name}) scores: train on another split")
        if not any(EVAL_KINDS.meta(ev.kind, "shots") for ev in suite.evals):
            kinds = sorted(k for k in EVAL_KINDS.names() if EVAL_KINDS.meta(k, "shots"))
            self.notes.append(f"baselines.shots: only {', '.join(kinds)} evals prompt with examples; this suite's "
                              "in-context baselines score like the zero-shot one")

    def searches(self, suite: Suite) -> None:
        """A learning-rate search scores on held-out data: a registered metric, one stage to
        tune, data it can read, and never a split an eval scores."""
        from harness.suite.plan import expand_sweep, search_data

        entries = [(f"methods[{i}].search", e.search) if e.search else ("search", suite.search) for i, e in enumerate(suite.methods)]
        for (path, search), (i, entry) in zip(entries, enumerate(suite.methods)):
            if search is None or any(p.path.startswith(f"methods[{i}]") for p in self.problems):
                continue
            if search.metric != "loss" and search.metric not in METRICS:
                self.problem(f"{path}.metric", f"'loss' or a generation metric: {METRICS.unknown_message(search.metric)}")
            try:
                stages = expand_sweep(suite, entry)[0][2]
            except (ValueError, HarnessError):
                continue  # resolved_stages reports it
            if len(stages) > 1:
                self.problem(path, f"methods[{i}] trains in {len(stages)} stages; a search tunes the rate of one stage")
                continue
            if stages[0].objective != "sft":
                self.problem(path, f"methods[{i}] trains on preferences (objective {stages[0].objective}); a search scores "
                                   "the supervised loss or generations, which a preference loss does not optimise: set "
                                   "its learning rate instead")
                continue
            data = search_data(search, stages)
            if data is None:
                self.problem(f"{path}.data", "the training data is a mixture: name the held-out data to search on")
                continue
            for k, ev in enumerate(suite.evals):
                if ev.data == data and ev.split == search.split:
                    self.problem(f"{path}.split", f"{data} ({search.split}) is what evals[{k}] ({ev.name}) scores: a search "
                                                  "picks on held-out data (a validation split), never on the eval's")
            ts = stages[0].template
            template = [_plain(t) for t in ts] if isinstance(ts, list) else _plain(ts)
            self.data(path, data, search.split, template, mapping=stages[0].columns if search.data is None else None)

    def resolved_stages(self, suite: Suite) -> None:
        """Settings that only clash once layered (data and mixture, select_best), and stages with no data."""
        from harness.suite.plan import expand_sweep

        for i, entry in enumerate(suite.methods):
            if entry.method not in METHODS or entry.method == "baseline" or any(p.path.startswith(f"methods[{i}]") for p in self.problems):
                continue
            try:
                for _, _, stages in expand_sweep(suite, entry):
                    self.labels_fit(i, entry.method, stages)
                    for j, stage in enumerate(stages):
                        where = f"methods[{i}].stages[{j}]" if entry.stages else f"methods[{i}]"
                        if stage.data is None and stage.mixture is None:
                            self.problem(where, "trains on no data: set train.data (or a mixture) in the suite or this entry")
                        if stage.gradient_checkpointing and METHODS.meta(entry.method, "checkpointing", True) is False:
                            self.unless_reported(where, HarnessError(
                                f"gradient_checkpointing cannot apply to {entry.method}: its virtual keys and values "
                                "travel in the cache, which transformers drops under checkpointing; set "
                                "gradient_checkpointing: false for this method"))
            except ValueError as err:
                msg = err.errors()[0]["msg"] if hasattr(err, "errors") else str(err)
                self.problem(f"methods[{i}].train", msg[0].lower() + msg[1:])
            except HarnessError as err:  # a template or data reference that layering brought in
                self.unless_reported(f"methods[{i}]", err)

    def unless_reported(self, path: str, err: HarnessError) -> None:
        """A problem met again while resolving a method's stages: said once, where it was
        written (a template the suite's train block sets is reported at train.template)."""
        if not any(p.message == str(err) for p in self.problems):
            self.problem(path, str(err))

    def labels_fit(self, i: int, method: str, stages: list) -> None:
        """A class column trains a head: linear_probe needs one, and only it uses one, except
        on an encoder, which every method trains as a classifier."""
        labelled = any(st.label for st in stages)
        if "encoder" in self.families:
            if not all(st.label for st in stages):
                self.problem(f"methods[{i}].train.label", f"{method} trains the encoder as a classifier: set train.label "
                                                         "to the column holding the class")
        elif method == "linear_probe" and not labelled:
            self.problem(f"methods[{i}]", "linear_probe trains a classifier: set train.label to the column holding the class")
        elif method != "linear_probe" and labelled:
            self.problem(f"methods[{i}].train.label", f"{method} trains the language model itself: put the class in the "
                                                     "completion template instead (train.label is for linear_probe)")

    def sweep(self, path: str, key: str, values: Any, method: Any, params: dict[str, Any]) -> None:
        from harness.suite.plan import sweep_target

        if not isinstance(values, list):
            return
        where, field = sweep_target(key)
        if where == "train" and field not in TRAIN_FIELDS:
            self.problem(path, f"{field!r} is not a train field; known: {', '.join(sorted(TRAIN_FIELDS))}")
            return
        for j, value in enumerate(values):
            if where == "train":
                try:
                    TrainOverride.model_validate({field: value})
                except ValueError as err:
                    self.problem(f"{path}[{j}]", f"{err.errors()[0]['msg']}, got {short_repr(value)}")  # type: ignore[attr-defined]
            else:
                for p in method.validate({**params, field: value}):
                    if p.path.split(".")[0] == field:
                        self.problem(f"{path}[{j}]", f"{p.message}")

    def unique_names(self, path: str, entry: dict[str, Any], names: dict[str, int]) -> dict[str, int]:
        name = entry.get("name") or entry.get("method")
        if isinstance(name, str) and name in names:
            self.problem(f"{path}.name", f"name {name!r} is already used by methods[{names[name]}]; give each entry its own name")
        elif isinstance(name, str):
            names[name] = int(path.split("[")[1].rstrip("]"))
        return names

    def eval(self, path: str, ev: dict[str, Any], train_template: Any) -> None:
        """An eval against its kind's registration: the families it scores, the fields only
        it uses, the fields it needs, its own checks, then its metrics and data."""
        kind = ev.get("kind", "generation")
        if not isinstance(kind, str):
            return
        if kind not in EVAL_KINDS:
            self.problem(f"{path}.kind", EVAL_KINDS.unknown_message(kind))
            return
        entry = EVAL_KINDS.get(kind)
        self.extra(f"{path}.kind", f"kind {kind}", entry.meta)
        for family in sorted(self.families):
            if family not in entry.meta.get("families", FAMILIES):
                self.problem(f"{path}.kind", f"a {family} model cannot be scored by a {kind} eval; its evals are "
                                             f"{' or '.join(eval_kinds(family))}")
        own = set(entry.meta.get("fields", ()))
        for other in EVAL_KINDS.entries():
            for key in other.meta.get("fields", ()):
                if key not in own and key in ev and ev[key] != EvalSpec.model_fields[key].default:
                    users = [e.name for e in EVAL_KINDS.entries() if key in e.meta.get("fields", ())]
                    self.problem(f"{path}.{key}", f"{key} is for {' and '.join(users)} evals; this eval is {kind} (kind:)")
        for key, what in entry.meta.get("requires", {}).items():
            if ev.get(key) is None:
                self.problem(f"{path}.{key}", f"a {kind} eval needs {key}: {what}")
        if entry.meta.get("check"):
            if isinstance(ev.get("data"), str) and ev["data"].startswith("hf:"):
                self.hub_data(f"{path}.data", ev["data"])
            for problem in load_target(entry.meta["check"])(path, ev, self.base_dir):
                self.problem(problem.path, problem.message)
        if entry.meta.get("own_metrics"):
            return  # its metrics are its backend's names, checked when it runs
        metrics = _sequence(ev.get("metrics"))
        for j, metric in enumerate(metrics):
            if isinstance(metric, str) and metric not in METRICS:
                self.problem(f"{path}.metrics[{j}]", METRICS.unknown_message(metric))
            elif isinstance(metric, str) and METRICS.meta(metric, "kind") != kind:
                fitting = [e.name for e in METRICS.entries() if e.meta.get("kind") == kind]
                self.problem(f"{path}.metrics[{j}]", f"{metric!r} scores {METRICS.get(metric).meta.get('kind')} evals; "
                                                     f"this eval is {kind} (kind:), whose metrics are {', '.join(fitting)}")
        for metric, args in _mapping(ev.get("metric_args")).items():
            if metric not in metrics:
                self.problem(f"{path}.metric_args.{metric}", f"{metric!r} is not among this eval's metrics")
            elif isinstance(args, dict) and metric in METRICS:
                self.metric_args(f"{path}.metric_args.{metric}", metric, args)
        if entry.meta.get("check") or not isinstance(ev.get("data"), str):
            return  # a kind with its own check reads its own data (question rows, an MMLU folder)
        template = ev.get("template", train_template)
        extra = {f"{path}.{key}": {ev[key]} for key in ("references", "label") if isinstance(ev.get(key), str)}
        if isinstance(ev.get("references"), list):
            extra[f"{path}.references"] = {str(c) for c in ev["references"]}
        self.data(path, ev["data"], ev.get("split", "test"), template, extra, ev.get("columns"),
                  prompt_only=bool(ev.get("references")))

    def metric_args(self, path: str, metric: str, args: dict[str, Any]) -> None:
        """Keyword arguments a metric function accepts (besides its two inputs)."""
        import inspect

        accepted = set(list(inspect.signature(METRICS.load(metric)).parameters)[2:])
        for key in args:
            if key not in accepted:
                self.problem(f"{path}.{key}", f"{metric} takes no argument {key!r}; it takes: {', '.join(sorted(accepted))}")

    def hub_data(self, path: str, ref: str) -> None:
        """Notes of a hub dataset (its form already checked): not read offline, and not pinned
        when its commit cannot be had."""
        self.notes.append(f"{path}: {ref!r} is a hub dataset; not checked offline")
        try:
            found = sources.hub_commit(ref)
        except HarnessError as err:  # a malformed reference (an eval kind with its own check reads no form)
            self.unless_reported(path, err)
            return
        self.pinned(path, ref, f"{ref.partition('@')[0]}@COMMIT_SHA", found, "dataset")

    def columns(self, path: str, ref: str, split: str) -> set[str] | None:
        """The split's column names, or None after reporting why it cannot be read."""
        try:
            return sources.columns(ref, split, self.base_dir)
        except HarnessError as err:
            self.problem(f"{path}.data", str(err))
            return None

    def data(self, path: str, ref: str, split: Any, template: Any, extra_fields: dict[str, set[str]] | None = None,
             mapping: Any = None, prompt_only: bool = False, preference: bool = False) -> None:
        """The data exists, the split can be read, and the template's fields are columns (its
        prompt's alone when the completion is not rendered: an eval with references).
        Preference pairs need chosen and rejected columns; without a template their prompt
        column may be left out (it is then the turns both answers share)."""
        try:
            sources.parse_ref(ref)  # its form (a hub reference, which is not read offline, too)
        except HarnessError as err:
            self.problem(f"{path}.data", str(err))
            return
        if ref.startswith("builtin:") and ref[8:] not in TASKS:
            self.problem(f"{path}.data", TASKS.unknown_message(ref[8:]))
            return
        if ref.startswith("hf:"):
            self.hub_data(f"{path}.data", ref)
            return
        if not isinstance(split, str):
            return
        columns = self.columns(path, ref, split)
        if columns is None:
            return
        if isinstance(mapping, dict):  # columns: {new: existing}
            for new, old in mapping.items():
                if isinstance(old, str) and old not in columns:
                    self.problem(f"{path}.columns.{new}", f"{ref} has no column {old!r}; it has: {', '.join(sorted(columns))}")
            columns = columns | set(mapping)
        several = isinstance(template, list)
        checks = list((extra_fields or {}).items())
        if preference:
            prompt_only = True
            missing = sorted({"chosen", "rejected"} - columns)
            if missing:
                self.problem(f"{path}.data", f"preference pairs need the column(s) {', '.join(missing)}; {ref} has: "
                                             f"{', '.join(sorted(columns))} (map yours with columns:)")
        implicit = preference and template is None and "prompt" not in columns and not ref.startswith("builtin:")
        for k, one in enumerate([] if implicit else template if several else [template]):  # implicit: from the answers
            where = f"{path}.template[{k}]" if several else f"{path}.template"
            try:
                if isinstance(one, dict) and "text" in one:  # learned whole: no prompt part
                    one = {"prompt": "", "completion": one["text"]}
                chosen = parse_template(one) if one is not None else default_template(ref, preference)
                if prompt_only:
                    chosen = parse_template({"prompt": chosen.prompt})
            except HarnessError as err:
                self.problem(where, str(err))
                continue
            checks.insert(k, (where, template_fields(chosen)))
        for where, needed in checks:
            missing = sorted(needed - columns)
            if missing:
                self.problem(where, f"names field(s) {', '.join(missing)} that {ref} lacks; it has: {', '.join(sorted(columns))}")
