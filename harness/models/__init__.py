"""Model references: a built-in name, a local folder, or a hub id, loaded the same way.

`classify(ref, base_dir)` (torch-free) tells which kind a reference is, for validation;
`load(ref, base_dir)` returns (model, tokenizer) in fp32 with a pad token set. Built-in
models are registry entries (harness/catalog.py) naming a function that builds them.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import HarnessError
from harness.registry import MODELS

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def local_path(ref: str, base_dir: Path) -> Path:
    path = Path(ref).expanduser()
    return path if path.is_absolute() else base_dir / path


def classify(ref: str, base_dir: Path) -> str:
    """'builtin', 'local' (an existing folder), 'hub' (looks like org/name), or 'missing'."""
    if ref in MODELS:
        return "builtin"
    if local_path(ref, base_dir).is_dir():
        return "local"
    if ref.startswith((".", "/", "~")) or not _HUB_ID.match(ref):
        return "missing"
    return "hub"


def load(ref: str, base_dir: Path, trust_remote_code: bool = False, **load_kwargs):
    """(model, tokenizer) for a reference; raises HarnessError when it cannot be had.

    load_kwargs go to from_pretrained (a method's quantization_config, say); built-in models
    are built whole and ignore them, and the method converts them itself in apply.
    """
    kind = classify(ref, base_dir)
    if kind == "builtin":
        model, tokenizer = MODELS.load(ref)()
    elif kind == "missing":
        raise HarnessError(f"model {ref!r}: no built-in model, local folder ({local_path(ref, base_dir)}) or hub id by that name")
    else:
        source = str(local_path(ref, base_dir)) if kind == "local" else ref
        model, tokenizer = _from_pretrained(source, trust_remote_code, load_kwargs)
    if tokenizer.pad_token_id is None:
        # Decoder tokenizers often lack a pad token; EOS is the usual stand-in, and the
        # attention mask keeps padding out of every computation.
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _from_pretrained(source: str, trust_remote_code: bool, load_kwargs: dict):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            source, **{"dtype": torch.float32, "trust_remote_code": trust_remote_code, **load_kwargs}
        )
    except OSError as err:
        raise HarnessError(f"model {source!r} could not be loaded (offline, or not a model folder?): {err}") from None
    return model, tokenizer
