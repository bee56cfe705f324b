"""`harness export`: a variant's saved weights as a standalone folder, optionally merged.

A variant trained with `save: true` has its weights in <record dir>/weights, in the format
its method calls for (harness/run/saved.py). Exporting copies that folder elsewhere, its
harness-saved.json and README.md rewritten for the new place. With merge, a peft adapter
that changes the base's weights (LoRA, DoRA, IA3, LoKr, VeRA...) is folded into them with
peft's merge_and_unload, the base loaded through harness.models.load as the run loaded it;
the result is a plain transformers folder, loadable by AutoModelForCausalLM.from_pretrained
with no peft and no harness. Whatever cannot be merged is refused up front, saying why.

Everything is written beside OUT and renamed into place, so a failed export leaves nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.records.schema import Record
from harness.records.store import read_record
from harness.registry import METHODS
from harness.run import saved

RECORD = "record.json"
WEIGHTS = "weights"


@dataclass(frozen=True)
class Exported:
    folder: Path
    format: str  # saved.PEFT, saved.TRANSFORMERS, ...
    merged: bool
    bytes: int  # every file written
    load: dict[str, str]  # the Python that loads it, by library


def export(variant_dir: Path, out: Path, merge: bool = False) -> Exported:
    """Copy (or, with merge, fold into its base) the weights a variant saved, into `out`."""
    record, weights = saved_weights(variant_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HarnessError(f"{out}: exists and is not empty; export writes a new folder: give a new or empty one")
    manifest = saved.read_manifest(weights)
    if merge:
        mergeable(record, manifest, weights)
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        if merge and manifest["format"] == saved.PEFT:
            merge_into_base(manifest, weights, partial)
            manifest = {**manifest, "format": saved.TRANSFORMERS, "merged_from": manifest["method"]}
        else:  # a whole model has nothing to merge: copied as it is
            shutil.copytree(weights, partial, ignore=shutil.ignore_patterns(saved.MANIFEST, saved.README))
        saved.write_description(partial, manifest, out)
        if out.exists():
            out.rmdir()  # empty, checked above
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    written = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return Exported(out, manifest["format"], merge and "merged_from" in manifest, written,
                    saved.read_manifest(out)["load"])


def saved_weights(variant_dir: Path) -> tuple[Record, Path]:
    """The variant's record and its weights folder; HarnessError saying why there is none."""
    if variant_dir.name == WEIGHTS and (variant_dir.parent / RECORD).is_file():
        variant_dir = variant_dir.parent  # the weights folder itself was given
    path = variant_dir / RECORD
    if not path.is_file():
        raise HarnessError(f"{variant_dir}: no {RECORD}, so not a variant's folder; give RESULTS/<suite>/<variant_id>, "
                           "the folder `harness run` wrote the variant's record in")
    try:
        record = read_record(path)
    except (OSError, ValueError) as err:
        raise HarnessError(f"{path}: not a readable record ({err})") from None
    weights = variant_dir / WEIGHTS
    stages = record.spec.get("stages") or []
    if record.method == "baseline" or not stages:
        raise HarnessError(f"variant {record.name!r} ({record.method}) was not trained: there are no tuned weights to "
                           f"export; its model is {record.model} as loaded")
    if not any(isinstance(st, dict) and st.get("save") for st in stages):
        raise HarnessError(f"variant {record.name!r} was not saved: its train block has no `save: true`. Add "
                           f"`save: true` under train: (the suite's, or method {record.name!r}'s own) and run it again: "
                           f"harness run SUITE --only '{record.name}' --force")
    if not weights.is_dir():
        why = (f"it failed ({record.error})" if record.status == "failed"
               else "its record says save: true: was the folder moved or deleted?")
        raise HarnessError(f"{weights}: no saved weights; {why}")
    return record, weights


def mergeable(record: Record, manifest: dict, weights: Path) -> None:
    """HarnessError saying why --merge cannot apply to these weights; None if it can."""
    kind, method = manifest["format"], manifest["method"]
    if kind == saved.TRANSFORMERS:
        return  # a whole model already: copied as it is
    if kind == saved.ADAPTER:
        raise HarnessError(f"{record.name}: bottleneck adapters are small networks with a nonlinearity added after "
                           "sublayers; they cannot be folded into the base's weights. Export without --merge and load "
                           "them with harness.methods.adapter.load_saved (README.md in the folder shows how)")
    if kind == saved.PROBE:
        raise HarnessError(f"{record.name}: a linear probe is a head of its own on the frozen base, not a change to "
                           "the base's weights: nothing to merge. Export without --merge and load it with "
                           "harness.methods.linear_probe.load_saved")
    if kind != saved.PEFT:
        raise HarnessError(f"{record.name}: method {method!r} saved only its trained tensors, with no loader: the "
                           "harness cannot merge them")
    if METHODS.meta(method, "weight_bits") == 4:
        raise HarnessError(f"{record.name}: {method} trained its adapter on a base stored in 4 bits; merged, the update "
                           "would be rounded into 4-bit weights (or merged into a dequantized base that is not the "
                           "model evaluated). Export without --merge and load the adapter on the 4-bit base, or train "
                           "with lora on the full-precision base to merge")
    from peft import PeftConfig

    config = PeftConfig.from_pretrained(str(weights))
    if config.is_prompt_learning:
        peft_type = getattr(config.peft_type, "value", config.peft_type)
        raise HarnessError(f"{record.name}: {method} learns virtual tokens put before the input ({peft_type}), "
                           "not changes to the base's weights: nothing to merge. Export without --merge (a peft adapter "
                           "folder, loaded with PeftModel.from_pretrained)")


def merge_into_base(manifest: dict, weights: Path, folder: Path) -> None:
    """The base with the adapter merged into its weights, saved as a transformers folder with
    the tokenizer the run used."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from harness import models

    family, labels = manifest.get("family", "causal"), manifest.get("labels")
    base, _ = models.load(manifest["model"], Path("."), trust_remote_code=bool(manifest.get("trust_remote_code")),
                          labels=tuple(labels) if family == "encoder" and labels else None)
    try:
        merged = PeftModel.from_pretrained(base, str(weights)).merge_and_unload()
    except (AttributeError, NotImplementedError, ValueError, KeyError, RuntimeError) as err:
        raise HarnessError(f"{weights}: peft could not merge this {manifest['method']} adapter into "
                           f"{manifest['model']}: {err}. Export without --merge") from None
    saved.save_whole(merged, folder)
    AutoTokenizer.from_pretrained(weights).save_pretrained(folder)
