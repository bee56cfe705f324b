"""Model references: a built-in name, a local folder, or a hub id, loaded the same way.

A hub id may end in @REVISION (a branch, a tag or a commit sha: `org/name@v1.0`), which
config, tokenizer and weights are loaded at; `hub_commit` says which commit that names now
(harness/data/hub.py), for the plan to put in the variant's id. A revision on a built-in
model or a local folder is refused (`revision_problem`).

`classify(ref, base_dir)` (torch-free) tells which kind a reference is, for validation;
`family(ref, base_dir)` which family the model belongs to (harness/models/family.py);
`load(ref, base_dir)` returns (model, tokenizer) in fp32 with a pad token set, through the
Auto class of its family. An encoder is loaded as a classifier over `labels`, which its
model then carries as `model.labels` (what classification evals predict with). Built-in
models are registry entries (harness/catalog.py) naming a function that builds them; an
encoder's function takes the labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.data import hub
from harness.errors import HarnessError
from harness.models.family import AUTO_CLASSES, family_of_config
from harness.registry import MODELS

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def local_path(ref: str, base_dir: Path) -> Path:
    path = Path(ref).expanduser()
    return path if path.is_absolute() else base_dir / path


def split_ref(ref: str, base_dir: Path) -> tuple[str, str | None]:
    """(name, revision): 'org/name@v1' -> ('org/name', 'v1'). A built-in name or an existing
    folder is the name whole, "@" and all (a folder may be called so)."""
    if ref in MODELS or _is_dir(local_path(ref, base_dir)):
        return ref, None
    return hub.split_revision(ref)


def classify(ref: str, base_dir: Path) -> str:
    """'builtin', 'local' (an existing folder), 'hub' (looks like org/name), or 'missing';
    of the name, whatever revision follows it (revision_problem judges that)."""
    ref, _ = split_ref(ref, base_dir)
    if ref in MODELS:
        return "builtin"
    if _is_dir(local_path(ref, base_dir)):
        return "local"
    if ref.startswith((".", "/", "~")) or not _HUB_ID.match(ref) or not _hub_accepts(ref):
        return "missing"
    return "hub"


def revision_problem(ref: str, base_dir: Path) -> str | None:
    """Why a reference's @REVISION cannot be: malformed, or on a model that has no
    revisions (a built-in one, a local folder); None when it has none or may have it."""
    name, revision = split_ref(ref, base_dir)
    if revision is None:
        return None
    malformed = hub.revision_problem(revision)
    if malformed is not None:
        return malformed
    kind = classify(ref, base_dir)
    if kind == "builtin":
        return (f"{name!r} is a built-in model, built in-process: it has no revisions; write {name!r} "
                f"(@REVISION pins a hub model: ORG/NAME@REVISION)")
    if kind == "local":
        return (f"{local_path(name, base_dir)} is a local folder, which has no revisions; remove @{revision} "
                "(@REVISION pins a hub model: ORG/NAME@REVISION)")
    return None


def hub_commit(ref: str, base_dir: Path) -> hub.Resolved | None:
    """The commit a hub model's revision (or its default branch) names now, and where that
    was learnt; None for a built-in model, a local folder or a reference that is neither."""
    if classify(ref, base_dir) != "hub" or revision_problem(ref, base_dir) is not None:
        return None
    name, revision = split_ref(ref, base_dir)
    return hub.resolve("model", name, revision)


def _hub_accepts(ref: str) -> bool:
    """The hub's own rules for a repo id (huggingface_hub's validate_repo_id), so a name it
    would refuse is reported by `harness validate`, not raised by the first hub call."""
    parts_end_in_a_word = all(part[-1:].isalnum() or part.endswith("_") for part in ref.split("/"))
    return len(ref) <= 96 and parts_end_in_a_word and "--" not in ref and ".." not in ref and not ref.endswith(".git")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name the system refuses to look up (longer than it allows) is no model folder
        return False


def offline_family(ref: str, base_dir: Path) -> str | None:
    """The family where it can be known without a network or torch: a built-in model's, or a
    local folder's config.json; None for a hub id (or an unreadable folder)."""
    kind = classify(ref, base_dir)
    ref, _ = split_ref(ref, base_dir)
    if kind == "builtin":
        return MODELS.get(ref).meta.get("family", "causal")
    config = local_path(ref, base_dir) / "config.json"
    if kind == "local" and config.is_file():
        try:
            return family_of_config(json.loads(config.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None
    return None


def has_chat_template(ref: str, base_dir: Path, revision: str | None = None) -> bool | None:
    """Whether the model ships a chat template (an instruct model), where that can be known
    without a network or torch: a built-in model's meta, a local folder's tokenizer files,
    a hub model already in the local cache (at `revision`, else the reference's own, else
    the default branch); None when it cannot (the worker then asks the tokenizer)."""
    kind = classify(ref, base_dir)
    ref, own = split_ref(ref, base_dir)
    revision = revision or own
    if kind == "builtin":
        return bool(MODELS.get(ref).meta.get("chat", False))
    if kind == "local":
        folder = local_path(ref, base_dir)
        return _template_in(folder / "tokenizer_config.json") or (folder / "chat_template.jinja").is_file() \
            or (folder / "chat_template.json").is_file()
    if kind == "hub":
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(ref, "tokenizer_config.json", revision=revision)
        if isinstance(cached, str):
            return _template_in(Path(cached)) or isinstance(
                try_to_load_from_cache(ref, "chat_template.jinja", revision=revision), str)
    return None


def _template_in(tokenizer_config: Path) -> bool:
    try:
        return bool(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


def _source(ref: str, base_dir: Path, revision: str | None) -> tuple[str, str, dict]:
    """(kind, what from_pretrained reads, its revision keyword): a local folder's path, or a
    hub id at `revision` (a plan's pinned commit), else at the reference's own @REVISION."""
    kind = classify(ref, base_dir)
    problem = revision_problem(ref, base_dir)
    if problem is not None:
        raise HarnessError(f"model {ref!r}: {problem}")
    name, own = split_ref(ref, base_dir)
    if kind == "missing":
        raise HarnessError(f"model {ref!r}: no built-in model, local folder ({local_path(name, base_dir)}) or hub id by that name")
    if kind == "local":
        return kind, str(local_path(name, base_dir)), {}
    pin = revision or own
    return kind, name, ({"revision": pin} if kind == "hub" and pin else {})


def family(ref: str, base_dir: Path, trust_remote_code: bool = False, revision: str | None = None) -> str:
    """"causal", "encoder" or "seq2seq": from the registry for a built-in model, else from its
    config (a hub model's at `revision`, else at the reference's own @REVISION)."""
    kind, source, pin = _source(ref, base_dir, revision)
    if kind == "builtin":
        return MODELS.get(source).meta.get("family", "causal")
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, **pin)
    except (OSError, ValueError) as err:
        raise HarnessError(f"model {source!r}: its config could not be read (offline, or not a model folder?): {err}") from None
    return family_of_config(config)


def load(ref: str, base_dir: Path, trust_remote_code: bool = False, labels: tuple[str, ...] | None = None,
         revision: str | None = None, **load_kwargs):
    """(model, tokenizer) for a reference; raises HarnessError when it cannot be had.

    load_kwargs go to from_pretrained (a method's quantization_config, say); built-in models
    are built whole and ignore them, and the method converts them itself in apply. An
    encoder needs `labels`: its classification head has one output per class. A hub model
    is loaded at `revision` (a variant's model_commit), else at its reference's @REVISION,
    else at its default branch.
    """
    kind, source, pin = _source(ref, base_dir, revision)
    fam = family(ref, base_dir, trust_remote_code, revision)
    if fam == "encoder" and not labels:
        raise HarnessError(f"model {ref!r} is an encoder: it is trained and scored as a classifier, so the suite needs "
                           "a classification task (train.label, or an eval of kind classification with a label column)")
    if kind == "builtin":
        build = MODELS.load(source)
        model, tokenizer = build(labels=tuple(labels)) if fam == "encoder" else build()
    else:
        model, tokenizer = _from_pretrained(source, fam, labels, trust_remote_code, {**pin, **load_kwargs}, pin)
    if fam == "encoder":
        model.labels = list(labels)  # classification evals predict with the head, in this order
    if tokenizer.pad_token_id is None:
        # Decoder tokenizers often lack a pad token; EOS is the usual stand-in, and the
        # attention mask keeps padding out of every computation.
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def classifier_kwargs(labels) -> dict:
    """from_pretrained / config settings of a classification head over these labels."""
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {c: i for i, c in enumerate(labels)}}


def _from_pretrained(source: str, fam: str, labels, trust_remote_code: bool, load_kwargs: dict, pin: dict):
    import torch
    import transformers
    from transformers import AutoTokenizer

    auto = getattr(transformers, AUTO_CLASSES[fam])
    head = classifier_kwargs(labels) if fam == "encoder" else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **pin)
        model = auto.from_pretrained(
            source, **{"dtype": torch.float32, "trust_remote_code": trust_remote_code, **head, **load_kwargs}
        )
    except OSError as err:
        raise HarnessError(f"model {source!r} could not be loaded (offline, or not a model folder?): {err}") from None
    return model, tokenizer
