"""Saved adapters of one base, planned for `harness eval-adapters`: each folder checked up
front and made a Variant, as plan.py makes a suite's.

An adapter folder is what peft's save_pretrained writes (adapter_config.json and
adapter_model.safetensors); `harness run` writes one per adapter variant under
<record dir>/weights when its train block says save: true. Each folder becomes a Variant
whose method is its peft type (lora, dora, ia3, ...), whose evals are the suite's exactly as
its baseline resolves them, and whose id hashes the folder's content (config and weights)
besides, so an adapter scored once is not scored again and a changed one is. The suite's
methods and few-shot baselines are left out; its train block still shapes the eval
prompts (template, chat), as it does for `harness run`'s baseline.

Torch-free: whether a peft type is an adapter that loads beside others is peft's to say,
so the caller passes that check in (harness/run/adapters.py `peft_problem`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import models
from harness.errors import HarnessError
from harness.models import cache
from harness.records.store import read_record
from harness.registry import MODELS, load_target
from harness.suite.plan import plan, variant_id
from harness.suite.schema import BaselinesSpec, LoadedSuite
from harness.suite.variant import Adapter, Variant

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
# Config fields that say where an adapter came from, not what it computes: not hashed, so
# the same adapter saved on another machine (another base path, peft version) keeps its id.
PROVENANCE = ("base_model_name_or_path", "revision", "peft_version", "inference_mode")
# Config fields shown as the variant's params (the record's method_info keeps the whole config).
SHOWN = ("r", "lora_alpha", "target_modules", "use_dora", "feedforward_modules")
HARNESS_WEIGHTS = "weights"  # the folder `harness run` saves a variant's adapters in, beside its record


@dataclass(frozen=True)
class AdapterPlan:
    baseline: Variant  # the base alone, the same variant (and id) as `harness run`'s baseline
    adapters: list[Adapter]
    warnings: list[str]  # a base named by another path or alias, or not named at all


def plan_adapters(loaded: LoadedSuite, folders: list[Path],
                  peft_problem: Callable[[str], str | None] = lambda peft_type: None) -> AdapterPlan:
    """The baseline and one Variant per folder; HarnessError listing every folder's problem."""
    suite = loaded.suite
    if len(suite.models) != 1:
        raise HarnessError(f"{loaded.path}: eval-adapters scores adapters of one base model; the suite names "
                           f"{len(suite.models)} ({', '.join(suite.models)}): give a suite with one model")
    model = suite.models[0]
    alone = suite.model_copy(update={"methods": [], "baselines": BaselinesSpec(), "search": None})
    baseline = plan(loaded.model_copy(update={"suite": alone}))[0]
    problems: list[str] = []
    warnings: list[str] = []
    adapters: list[Adapter] = []
    taken, seen = {baseline.name}, set()
    for folder in folders:
        where = folder.resolve()
        if where in seen:
            problems.append(f"{folder}: given twice")
            continue
        seen.add(where)
        try:
            config = read_config(folder)
            trouble = peft_problem(config["peft_type"])
            if trouble:
                raise HarnessError(f"{folder}: {trouble}")
            level, message = base_check(config.get("base_model_name_or_path"), model, loaded.base_dir)
        except HarnessError as err:
            problems.append(str(err))
            continue
        if level == "error":
            problems.append(f"{folder}: {message}")
            continue
        if message:
            warnings.append(f"{folder}: {message}")
        name = unique(adapter_name(folder), taken)
        taken.add(name)
        digest = content_hash(folder, config)
        adapters.append(Adapter(folder=folder, config=config, sha256=digest,
                                variant=adapter_variant(baseline, name, config, digest)))
    if problems:
        raise HarnessError(f"{len(problems)} adapter folder(s) cannot be scored:\n" + "\n".join(f"  {p}" for p in problems))
    return AdapterPlan(baseline, adapters, warnings)


def read_config(folder: Path) -> dict[str, Any]:
    """adapter_config.json of a folder that also holds the weights as safetensors."""
    if not folder.is_dir():
        raise HarnessError(f"{folder}: no such folder")
    path = folder / CONFIG
    if not path.is_file():
        raise HarnessError(f"{folder}: no {CONFIG}, so not a peft adapter folder (peft's save_pretrained writes "
                           f"{CONFIG} and {WEIGHTS})")
    if not (folder / WEIGHTS).is_file():
        pickled = (folder / "adapter_model.bin").is_file()
        raise HarnessError(f"{folder}: no {WEIGHTS}" + (" (only adapter_model.bin, a pickle, which is not read: save "
                                                         "it again with safe_serialization=True)" if pickled else ""))
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise HarnessError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("peft_type"), str):
        raise HarnessError(f"{path}: no peft_type, so not a peft adapter config")
    return config


def base_check(declared: Any, model: str, base_dir: Path) -> tuple[str, str]:
    """("ok" | "warn" | "error", message) for the base an adapter names against the suite's
    model: the same name, local folder or model cache is fine; the same model under another
    path or alias (a hub id of a built-in, a folder of the same name) is warned about;
    another model is an error."""
    if not declared or not isinstance(declared, str):
        return "warn", f"names no base model (base_model_name_or_path is empty); scored on {model} as the suite says"
    kind = models.classify(model, base_dir)
    same = {model, models.split_ref(model, base_dir)[0]}  # peft writes a hub base's id without its @REVISION
    if kind == "local":
        same.add(str(models.local_path(model, base_dir).resolve()))
    located = MODELS.meta(model, "cache") if kind == "builtin" else None
    if located:  # what peft writes for a model loaded from the harness's cache
        folder = load_target(located)()
        if folder is not None:
            same.add(str(folder))
    if declared in same or (Path(declared).expanduser().is_dir() and str(Path(declared).expanduser().resolve()) in same):
        return "ok", ""
    aliases = same | ({MODELS.get(model).meta.get("hub") or model} if kind == "builtin" else set())
    if declared in aliases or _stem(declared) in {_stem(n) for n in aliases}:
        return "warn", (f"names its base {declared!r}: taken as the suite's model {model!r} under another path or alias")
    return "error", (f"was made for {declared!r} (base_model_name_or_path), not for the suite's model {model!r}: "
                     "give a suite whose model is the adapter's base")


def _stem(name: str) -> str:
    """A model name without its folder or hub organisation, case folded."""
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()


def adapter_name(folder: Path) -> str:
    """The folder's name made safe as a folder name; for a harness record's weights folder,
    its variant's name and seed (lora-r8-seed0): the trained variant's own record keeps its
    name, and a leaderboard shows one record per name and seed (records/newest.py)."""
    name = folder.resolve().name
    if name == HARNESS_WEIGHTS:
        try:
            record = read_record(folder.parent / "record.json")
            name = f"{record.name}-seed{record.seed}"
        except (OSError, ValueError):
            name = folder.resolve().parent.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._") or "adapter"


def unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    return next(f"{name}-{i}" for i in range(2, len(taken) + 2) if f"{name}-{i}" not in taken)


def content_hash(folder: Path, config: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    kept = {k: v for k, v in config.items() if k not in PROVENANCE}
    digest.update(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0" + cache.sha256(folder / WEIGHTS).encode())
    return digest.hexdigest()


def method_of(config: dict[str, Any]) -> str:
    """lora, dora (LoRA with use_dora), ia3, vera...: the peft type as the harness names methods."""
    peft_type = str(config["peft_type"])
    return "dora" if peft_type == "LORA" and config.get("use_dora") else peft_type.lower()


def adapter_variant(baseline: Variant, name: str, config: dict[str, Any], digest: str) -> Variant:
    """The baseline's variant with the adapter's name, method and params, its id hashing the
    adapter's content besides what the baseline's hashes (the evals and their data)."""
    shown = {k: config[k] for k in SHOWN if config.get(k) not in (None, False, [], {})}
    body = baseline.model_dump(mode="json", exclude={"id", "base_dir", "resources", "distributed", "shots", "search"})
    body.update(name=name, method=method_of(config), params={"adapter": digest[:12], **shown},
                fingerprints={**baseline.fingerprints, "adapter": digest})
    return Variant(id=variant_id(body), base_dir=baseline.base_dir, resources=baseline.resources, **body)
