"""Hub references pinned to a revision, and the commit a revision names.

A hub model id or an hf: dataset reference may end in `@REVISION`: a branch, a tag or a
commit sha (`Qwen/Qwen2.5-0.5B-Instruct@v1.0`, `hf:org/data:config@v2`), the way the
hub's own `hf://org/name@revision` paths write it. A hub id never holds an "@", so the
first one starts the revision (which may hold "/": `refs/pr/3`).

`resolve(kind, repo, revision)` turns it, or the default branch when none is given, into
the commit sha it names at plan time, so a variant's id changes when the content on the
hub does:
  1. a full 40-hex sha is its own commit: no lookup;
  2. online: the hub's answer (huggingface_hub's model_info / dataset_info .sha);
  3. offline (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE for data) or the hub unreachable: the
     local hub cache, whose refs/REVISION file holds the commit a download last saw
     (<HF_HUB_CACHE>/models--ORG--NAME/refs/main; datasets--ORG--NAME for data);
  4. else no commit, and the reason: the caller hashes the reference as written.
Answers are kept per (kind, repo, revision) for KEEP_SECONDS, so a plan, which asks once
per variant, and the commands that plan again, ask the hub once. Torch-free;
huggingface_hub is imported only when a hub reference is resolved.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import HarnessError

Kind = Literal["model", "dataset"]
SHA = re.compile(r"^[0-9a-f]{40}$")  # a full commit sha: what the hub and its cache name commits by
MARK = "@"
DEFAULT_BRANCH = "main"  # what transformers and datasets load when no revision is given
KEEP_SECONDS = 600.0  # a later plan in the same process (the Python API, a notebook) asks again after this
HUB_TIMEOUT = 10.0  # seconds for one hub answer: an unreachable hub must not hold up a plan
# What git refuses in a ref name (git check-ref-format), "@" besides: it ends the reference.
_BAD_REVISION = re.compile(r"[\s~^:?*\[\\@\x00-\x1f\x7f]|\.\.|^[/.-]|[/.]$|\.lock$|//")


@dataclass(frozen=True)
class Resolved:
    commit: str | None  # the 40-hex commit sha, None when it could not be had
    source: str  # "given" (a sha), "hub", "local hub cache", or why there is no commit


_answers: dict[tuple[str, str, str | None], tuple[float, Resolved]] = {}  # (kind, repo, revision) -> (when, answer)


def split_revision(ref: str) -> tuple[str, str | None]:
    """'org/name@v1.0' -> ('org/name', 'v1.0'); a reference without "@" -> (ref, None)."""
    name, mark, revision = ref.partition(MARK)
    return (name, revision) if mark else (ref, None)


def revision_problem(revision: str) -> str | None:
    """Why a revision cannot name a branch, tag or commit (git's rules for ref names), or None."""
    if not revision:
        return f"nothing follows {MARK!r}: write {MARK}BRANCH, {MARK}TAG or {MARK}COMMIT_SHA, or leave it out"
    if _BAD_REVISION.search(revision):
        return (f"{revision!r} after {MARK!r} is not a branch, tag or commit sha (no spaces, '..', '@', ':', '~', "
                "'^', '?', '*', '[' or '\\', and no '/' or '.' at either end)")
    return None


def check_revision(ref: str, revision: str) -> None:
    """HarnessError naming the reference when its revision is malformed."""
    problem = revision_problem(revision)
    if problem is not None:
        raise HarnessError(f"reference {ref!r}: {problem}")


def resolve(kind: Kind, repo: str, revision: str | None) -> Resolved:
    """The commit `revision` (None: the default branch) of a hub repository names now."""
    if revision is not None and SHA.match(revision):
        return Resolved(revision, "given")
    key = (kind, repo, revision)
    now = time.monotonic()
    kept = _answers.get(key)
    if kept is not None and now - kept[0] < KEEP_SECONDS:
        return kept[1]
    answer = _lookup(kind, repo, revision)
    _answers[key] = (now, answer)
    return answer


def forget() -> None:
    """Drop the kept answers: the next resolve asks the hub (or its cache) again."""
    _answers.clear()


def cache_folder(kind: Kind, repo: str) -> Path:
    """Where huggingface_hub keeps a repository's downloads (its refs/ and snapshots/)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo, repo_type=kind)


def offline(kind: Kind) -> bool:
    """Whether the hub libraries were told not to reach the hub (datasets has its own switch)."""
    from huggingface_hub import constants

    datasets_off = os.environ.get("HF_DATASETS_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES
    return bool(constants.HF_HUB_OFFLINE) or (kind == "dataset" and datasets_off)


def _lookup(kind: Kind, repo: str, revision: str | None) -> Resolved:
    why = "offline"
    if not offline(kind):
        from huggingface_hub import HfApi

        try:
            info = getattr(HfApi(), f"{kind}_info")(repo, revision=revision, timeout=HUB_TIMEOUT)
        # Unreachable, no such repository or revision, gated: the cache may still know. Any
        # error, as the note names it: the HTTP library under huggingface_hub has changed
        # (requests, httpx, httpx2) and so have the errors it raises.
        except Exception as err:
            why = f"the hub did not answer ({type(err).__name__})"
        else:
            if isinstance(info.sha, str) and SHA.match(info.sha):
                return Resolved(info.sha, "hub")
            why = "the hub gave no commit"
    folder = cache_folder(kind, repo)
    ref = folder / "refs" / (revision or DEFAULT_BRANCH)
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        commit = ""
    if SHA.match(commit):
        return Resolved(commit, "local hub cache")
    return Resolved(None, f"{why}, and the hub cache has no {ref}")

