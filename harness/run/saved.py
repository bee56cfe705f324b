"""What `save: true` writes beside a variant's record, and the one function that loads it back.

RESULTS/<suite>/<variant_id>/weights holds, by what the method trained:

* peft methods (lora, dora, qlora, ia3, vera, lokr, prompt, prefix and p-tuning): peft's
  adapter folder (adapter_config.json, adapter_model.safetensors), so that
  `PeftModel.from_pretrained(base, folder)` works; base_model_name_or_path names the base
  (`base_reference`: a folder or hub id transformers loads, else the built-in's name).
* methods that train the model's own weights (full, freeze, ulmfit): the whole model as a
  transformers folder (config.json, model.safetensors), so that
  `AutoModelForCausalLM.from_pretrained(folder)` is the tuned model.
* bottleneck adapters and linear probes, the harness's own modules, which transformers and
  peft cannot load: their tensors as safetensors with a JSON of the settings that rebuild
  them; harness/methods/adapter.py and linear_probe.py own that format and its `load_saved`.
* another method's (a plugin's): the tensors it trained, trained.safetensors, with no loader.

Each folder also holds the tokenizer (a tokenizer.save_pretrained), harness-saved.json (the
format, the model it was trained from, the Python that loads it) and a README.md saying the
same to a person and, with its metadata header, to the hub. `load(folder)` gives (model,
tokenizer) for every format but the last, predicting as the model the harness evaluated.
The folder is written beside the final one and renamed into place, so a rerun never leaves
a mix of two runs' files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness import __version__, models
from harness.errors import HarnessError
from harness.models.family import AUTO_CLASSES
from harness.registry import METHODS, MODELS, load_target
from harness.suite.variant import Variant

MANIFEST = "harness-saved.json"
README = "README.md"
PEFT, TRANSFORMERS, ADAPTER, PROBE, TENSORS = "peft", "transformers", "harness-adapter", "harness-probe", "trained-tensors"
TENSORS_FILE = "trained.safetensors"


def save(model, tokenizer, folder: Path, variant: Variant, family: str) -> int:
    """Write the tuned model's weights into `folder` (replacing an earlier run's) in the format
    its method calls for, with the tokenizer, manifest and README; the bytes of weights written."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    ref = model_reference(variant.model, Path(variant.base_dir))
    base = base_reference(variant.model, Path(variant.base_dir))
    kind = format_of(model, variant.method)
    if kind == PEFT:
        save_peft(model, partial, base, ref)
    elif kind == TRANSFORMERS:
        save_whole(model, partial)
    elif kind == ADAPTER:
        from harness.methods import adapter

        adapter.save(model, partial, METHODS.load(variant.method).parse(variant.params), family)
    elif kind == PROBE:
        from harness.methods import linear_probe

        linear_probe.save(model, partial)
    else:
        from safetensors.torch import save_file

        trained = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(trained, str(partial / TENSORS_FILE), metadata={"format": "pt"})
    tokenizer.save_pretrained(partial)
    frozen = next((p.dtype for p in model.parameters() if not p.requires_grad), None)
    labels = getattr(model, "labels", None)
    manifest = {
        "format": kind, "method": variant.method, "params": variant.params, "family": family,
        "model": ref, "base": base, "labels": list(labels) if labels else None,
        "base_dtype": str(frozen).removeprefix("torch.") if frozen is not None else None,
        "trust_remote_code": variant.trust_remote_code,
        "suite": variant.suite, "variant": variant.name, "variant_id": variant.id, "seed": variant.seed,
        "harness_version": __version__,
    }
    write_description(partial, manifest, folder)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return weight_bytes(folder)


def format_of(model, method: str) -> str:
    """How a tuned model is saved: by what its method trained."""
    if hasattr(model, "peft_config"):
        return PEFT
    if method == "adapter":
        return ADAPTER
    if method == "linear_probe":
        return PROBE
    from transformers import PreTrainedModel

    # full, freeze, ulmfit: the model's own weights trained (gradual unfreezing may leave some frozen)
    if METHODS.meta(method, "trains", "all") == "all" and isinstance(model, PreTrainedModel):
        return TRANSFORMERS
    return TENSORS


def model_reference(ref: str, base_dir: Path) -> str:
    """The model as the harness loads it from anywhere: a built-in's name, a hub id, or a local
    folder's absolute path (a suite names it relative to its own folder)."""
    return str(models.local_path(ref, base_dir).resolve()) if models.classify(ref, base_dir) == "local" else ref


def base_reference(ref: str, base_dir: Path) -> str | None:
    """The base as transformers loads it (AutoModel*.from_pretrained): a hub id, a local
    folder, or a built-in's cache folder (`harness models path NAME` prints it); None for a
    built-in made in memory (tiny-random-*), which only `harness.models.load` builds."""
    kind = models.classify(ref, base_dir)
    if kind != "builtin":
        return model_reference(ref, base_dir)
    located = MODELS.meta(ref, "cache")
    folder = load_target(located)() if located else None
    return str(folder) if folder is not None and Path(folder).is_dir() else None


def save_peft(model, folder: Path, base: str | None, name: str) -> None:
    """peft's adapter folder, its config naming the base: `base` where transformers can load
    it, else the built-in's `name` (peft would write the base's name_or_path, empty for a
    model built in memory). That name is written after peft has saved: peft looks a base
    that is no folder up on the hub, and a built-in's name is no hub id."""
    configs = model.peft_config
    before = {key: config.base_model_name_or_path for key, config in configs.items()}
    try:
        for config in configs.values():
            config.base_model_name_or_path = base
        model.save_pretrained(folder, safe_serialization=True)
    finally:
        for key, value in before.items():
            configs[key].base_model_name_or_path = value
    for path in folder.rglob("adapter_config.json"):  # one per adapter (others in subfolders)
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base or name
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_whole(model, folder: Path) -> None:
    """save_pretrained of the whole model as safetensors. A model read from a GGUF file is
    flagged as quantized, and refuses to be saved, although its weights are plain floats
    (harness/models/smollm2.py meets the same): saved without the flag, as the plain model it is."""
    import torch

    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        model.save_pretrained(folder, safe_serialization=True)
        return
    if any(not torch.is_floating_point(t) or getattr(t, "quant_state", None) is not None
           for t in (*model.parameters(), *model.buffers())):
        raise HarnessError(f"{type(model).__name__}: its weights are quantized, so the whole model cannot be saved as "
                           "a plain transformers folder; train with an adapter method (lora) to save the adapters")
    config = model.config
    had_config = "quantization_config" in config.__dict__
    kept = config.__dict__.pop("quantization_config", None)
    model.hf_quantizer = None
    try:
        model.save_pretrained(folder, safe_serialization=True)
    finally:
        model.hf_quantizer = quantizer
        if had_config:
            config.quantization_config = kept


def weight_bytes(folder: Path) -> int:
    """Bytes of the weight files (safetensors) alone: the tokenizer and descriptions are
    not what a method's saved size compares."""
    return sum(f.stat().st_size for f in folder.rglob("*.safetensors") if f.is_file())


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise HarnessError(f"{folder}: no {MANIFEST}, so not weights a harness run saved with train: save: true (an "
                           "older harness saved them without one: run the variant again with --force)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise HarnessError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (PEFT, TRANSFORMERS, ADAPTER, PROBE, TENSORS):
        raise HarnessError(f"{path}: names no format this harness knows")
    return manifest


def load(folder, device: str | None = None):
    """(model, tokenizer) from a folder `save: true` (or `harness export`) wrote, in eval mode:
    the model the harness evaluated. The base of adapters and probes is loaded as the run
    loaded it (`harness.models.load`), in the dtype it was held in."""
    import torch
    from transformers import AutoTokenizer

    folder = Path(folder)
    manifest = read_manifest(folder)
    kind, family = manifest["format"], manifest.get("family", "causal")
    labels = manifest.get("labels")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if kind == TENSORS:
        raise HarnessError(f"{folder}: only the trained tensors of method {manifest['method']!r} ({TENSORS_FILE}); "
                           "the harness has no loader for them")
    if kind == TRANSFORMERS:
        import transformers

        model = getattr(transformers, AUTO_CLASSES[family]).from_pretrained(
            folder, trust_remote_code=bool(manifest.get("trust_remote_code")))
    else:
        model = _with_base(folder, manifest, kind)
    if family == "encoder" and labels:
        model.labels = list(labels)
    if device is not None:
        model = model.to(torch.device(device))
    return model.eval(), tokenizer


def _with_base(folder: Path, manifest: dict[str, Any], kind: str):
    """The base as the run loaded it, with the saved adapters, prompt or probe put back."""
    import torch

    method = METHODS.load(manifest["method"])
    params = method.parse(manifest.get("params") or {})
    family = manifest.get("family", "causal")
    labels = manifest.get("labels")
    load_kwargs = method.load_kwargs(params) if method.load_kwargs else {}
    base, _ = models.load(manifest["model"], Path("."), trust_remote_code=bool(manifest.get("trust_remote_code")),
                          labels=tuple(labels) if family == "encoder" and labels else None, **load_kwargs)
    dtype = manifest.get("base_dtype")
    if dtype and getattr(base, "hf_quantizer", None) is None and isinstance(getattr(torch, dtype, None), torch.dtype):
        base = base.to(getattr(torch, dtype))
    if kind == ADAPTER:
        from harness.methods import adapter

        return adapter.load_saved(base, folder)
    if kind == PROBE:
        from harness.methods import linear_probe

        return linear_probe.load_saved(base, folder)
    if method.load_kwargs is not None:
        # QLoRA: the method quantizes the base as the run did, then the saved adapter is put in
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        from harness.methods.base import ApplyContext

        model = method.apply(base, params, ApplyContext(family=family)).model
        set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
        return model
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(folder))


def load_lines(manifest: dict[str, Any], folder: Path) -> dict[str, str]:
    """The Python that loads `folder`: with the harness (every format), and with transformers
    or peft alone where they can."""
    where = json.dumps(str(folder))
    lines = {"harness": f"from harness.run.saved import load; model, tokenizer = load({where})"}
    kind, family, base = manifest["format"], manifest.get("family", "causal"), manifest.get("base")
    auto = AUTO_CLASSES.get(family, "AutoModelForCausalLM")
    if kind == TRANSFORMERS:
        lines["transformers"] = (f"from transformers import {auto}, AutoTokenizer; model = {auto}.from_pretrained({where}); "
                                 f"tokenizer = AutoTokenizer.from_pretrained({where})")
    elif kind == PEFT and METHODS.meta(manifest["method"], "weight_bits") == 4:
        if base and family != "encoder":  # the base quantized as the run quantized it
            params = manifest.get("params") or {}
            quantized = (f"BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type={params.get('quant_type', 'nf4')!r}, "
                         f"bnb_4bit_use_double_quant={bool(params.get('double_quant', True))})")
            lines["peft"] = (f"from peft import PeftModel; from transformers import {auto}, BitsAndBytesConfig; "
                             f"model = PeftModel.from_pretrained({auto}.from_pretrained({json.dumps(base)}, "
                             f"quantization_config={quantized}), {where})")
    elif kind == PEFT and base and family != "encoder":
        lines["peft"] = (f"from peft import PeftModel; from transformers import {auto}; "
                         f"model = PeftModel.from_pretrained({auto}.from_pretrained({json.dumps(base)}), {where})")
    elif kind == PEFT:  # a built-in made in memory, or an encoder whose head is sized by the suite's labels
        lines["peft"] = (f"from peft import PeftModel; from harness import models; base, tokenizer = models.load("
                         f"{json.dumps(manifest['model'])}, '.'{_labels_arg(manifest)}); "
                         f"model = PeftModel.from_pretrained(base, {where})")
    elif kind in (ADAPTER, PROBE):
        module = "adapter" if kind == ADAPTER else "linear_probe"
        lines["harness"] += (f"  # or: from harness.methods.{module} import load_saved; model = load_saved(base, {where}), "
                             f"base the model it was trained on ({manifest['model']})")
    return lines


def _labels_arg(manifest: dict[str, Any]) -> str:
    labels = manifest.get("labels")
    return f", labels={tuple(labels)!r}" if manifest.get("family") == "encoder" and labels else ""


WHAT = {
    PEFT: "a peft adapter folder (adapter_config.json, adapter_model.safetensors): the adapter alone, the base not included",
    TRANSFORMERS: "the whole tuned model as a transformers folder (config.json, model.safetensors)",
    ADAPTER: "the harness's bottleneck adapters (bottleneck_adapters.safetensors and .json): the adapters alone, "
             "the base not included; transformers and peft cannot load them, the harness can",
    PROBE: "the harness's linear probe (linear_probe.safetensors and .json): the head alone, the base not included",
    TENSORS: f"the tensors the method trained ({TENSORS_FILE}), by their names in the tuned model; no loader",
}


def write_description(folder: Path, manifest: dict[str, Any], final: Path | None = None) -> None:
    """harness-saved.json and README.md of a folder about to be at `final` (default: where it is)."""
    final = (final or folder).resolve()
    manifest = {**manifest, "load": load_lines(manifest, final),
                "files": sorted(p.name for p in folder.iterdir() if p.name not in (MANIFEST, README))}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (folder / README).write_text(readme(manifest), encoding="utf-8")


def readme(manifest: dict[str, Any]) -> str:
    base = manifest.get("base")
    hub = base if base and models.classify(base, Path(".")) == "hub" else None
    header = ["---", f"library_name: {'peft' if manifest['format'] == PEFT else 'transformers'}",
              *([f"base_model: {hub}"] if hub else []), "tags:", "- harness", f"- {manifest['method']}", "---", ""]
    merged = manifest.get("merged_from")
    body = [f"# {manifest['variant']} ({manifest['suite']}, seed {manifest['seed']})", "",
            f"Tuned with `{manifest['method']}` from `{manifest['model']}` by the harness {manifest['harness_version']}"
            + (f"; its {merged} adapter merged into the base by `harness export --merge`." if merged else "."), "",
            f"This folder holds {WHAT[manifest['format']]}.", ""]
    if manifest["format"] in (PEFT, ADAPTER, PROBE):
        body += [f"Base model: {base_note(manifest['model'], base)}.", ""]
    body += ["Load it:", "", "```python"] + list(manifest["load"].values()) + ["```", ""]
    return "\n".join(header + body)


def base_note(model: str, base: str | None) -> str:
    """Where the base of an adapter or probe comes from, in a sentence."""
    note = f"`{model}`" + (f" (transformers loads it from `{base}`)" if base and base != model else "")
    if models.classify(model, Path(".")) != "builtin":
        return note
    if MODELS.meta(model, "cache"):
        return (note + f", a built-in model of the harness: `harness models path {model}` prints its folder, "
                f"`harness models pull {model}` builds it on another machine")
    return note + ", a built-in model the harness builds in memory: `harness.models.load(NAME, '.')` gives it"
