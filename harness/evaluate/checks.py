"""Checks of an eval kind's own fields and data, run by `harness validate` without torch.

Each function is named by its kind's registration (harness/catalog.py, `check`) and takes
(path, eval as written, the suite's folder) -> [Problem]. A kind with a check reads its own
data here; the others have their template checked against their data's columns by
harness/suite/checks.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.data import mmlu, sources
from harness.data.preferences import ANSWERS
from harness.data.splits import resolve_split
from harness.data.templates import Template, parse_template, template_fields
from harness.errors import HarnessError, Problem


def multiple_choice(path: str, ev: dict[str, Any], base_dir: Path) -> list[Problem]:
    """Question rows with question, choices and answer, or an MMLU folder holding the
    subjects asked for (and their dev files when there are shots)."""
    problems: list[Problem] = []
    ref, split = ev.get("data"), ev.get("split", "test")
    if not isinstance(ref, str) or not isinstance(split, str):
        return problems
    if ref.startswith("hf:"):
        return problems  # the hub is not checked offline; suite checks note it
    try:
        columns = sources.columns(ref, split, base_dir)
    except HarnessError as err:
        return [Problem(f"{path}.data", str(err))]
    missing = sorted({"question", "choices", "answer"} - columns)
    if missing:
        problems.append(Problem(f"{path}.data", f"{ref} lacks field(s) {', '.join(missing)}; multiple-choice rows have "
                                                "question, choices (a list) and answer (an index or a letter)"))
    if not mmlu.is_mmlu(ref):
        return problems
    root = mmlu.folder(ref, base_dir)
    shots = ev.get("shots") if isinstance(ev.get("shots"), int) else 0
    names = [part.splitname for part in resolve_split(split, ref, None, lambda name: 0)]
    subjects = ev.get("subjects") if isinstance(ev.get("subjects"), list) else []  # another type: the schema reports it
    for j, subject in enumerate(subjects):
        if not isinstance(subject, str):
            continue
        try:
            for name in names + ([mmlu.SHOT_SPLIT] if shots else []):
                mmlu.check_subjects(root, name, [subject])
        except HarnessError as err:
            problems.append(Problem(f"{path}.subjects[{j}]", str(err)))
    return problems


def preference(path: str, ev: dict[str, Any], base_dir: Path) -> list[Problem]:
    """Pair rows: chosen and rejected columns (after `columns:`), and a prompt, from the
    template's fields, the prompt column, or the opening both answers share (chat turns, or
    text such as Anthropic/hh-rlhf's, as harness/data/preferences.py reads them)."""
    ref, split, mapping = ev.get("data"), ev.get("split", "test"), ev.get("columns")
    if not isinstance(ref, str) or not isinstance(split, str):
        return []
    if ref.startswith("hf:"):
        return []  # the hub is not checked offline; suite checks note it
    try:
        rows = sources.load_split(ref, split, base_dir, limit=sources.COLUMN_SAMPLE)
    except HarnessError as err:
        return [Problem(f"{path}.data", str(err))]
    columns: set[str] = set()
    for row in rows:
        columns |= set(row)
    has = f"{ref} ({split}) has: {', '.join(sorted(map(str, columns)))}"
    problems: list[Problem] = []
    first = rows[0]
    if isinstance(mapping, dict):  # {new: existing}
        for new, old in mapping.items():
            if isinstance(old, str) and old not in columns:
                problems.append(Problem(f"{path}.columns.{new}", f"no column {old!r} to map; {has}"))
        first = {**first, **{new: first[old] for new, old in mapping.items() if isinstance(old, str) and old in first}}
        columns |= set(mapping)
    missing = [c for c in ANSWERS if c not in columns]
    if missing:
        problems.append(Problem(f"{path}.data", f"no {' or '.join(missing)} column: a preference eval's rows hold a "
                                                f"chosen and a rejected answer (map yours with columns:); {has}"))
    template = ev.get("template")
    if template is not None:
        for k, one in enumerate(template if isinstance(template, list) else [template]):
            where = f"{path}.template[{k}]" if isinstance(template, list) else f"{path}.template"
            try:  # the prompt part alone is rendered: the answers are columns
                needed = template_fields(Template(prompt=parse_template(one).prompt, completion=""))
            except HarnessError as err:
                problems.append(Problem(where, str(err)))
                continue
            if needed - columns:
                problems.append(Problem(where, f"names field(s) {', '.join(sorted(needed - columns))} that {ref} lacks; {has}"))
    elif "prompt" not in columns and not ref.startswith("builtin:") and not missing and not _shared_opening(first):
        problems.append(Problem(f"{path}.data", f"no prompt column, no template, and the first row's answers share no "
                                                "opening to take the prompt from: add a prompt column (or map yours "
                                                f"with columns:) or give a template; {has}"))
    return problems


def _shared_opening(row: dict[str, Any]) -> bool:
    """Whether a row's answers carry their prompt: chat turns, or text both open with."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if isinstance(chosen, list):
        return bool(chosen) and all(isinstance(m, dict) and "role" in m for m in chosen)
    return isinstance(chosen, str) and isinstance(rejected, str) and bool(os.path.commonprefix([chosen, rejected]).strip())


def lm_eval(path: str, ev: dict[str, Any], base_dir: Path) -> list[Problem]:
    """A task to run (a YAML file must exist), an include folder that exists, data that
    can be fingerprinted, and no metric_args (lm-eval computes its metrics its own way)."""
    problems: list[Problem] = []
    task, include = ev.get("task"), ev.get("include_path")
    if not isinstance(task, str) or not task:
        problems.append(Problem(f"{path}.task", "an lm_eval eval names its task: task: NAME (an lm-eval task) or task: FILE.yaml"))
    elif task.endswith((".yaml", ".yml")):
        file = Path(task).expanduser()
        file = file if file.is_absolute() else base_dir / file
        if not _exists(file, "file"):
            problems.append(Problem(f"{path}.task", f"task file {file} does not exist (relative to {base_dir}); fix the path"))
    if isinstance(include, str):
        folder = Path(include).expanduser()
        folder = folder if folder.is_absolute() else base_dir / folder
        if not _exists(folder, "folder"):
            problems.append(Problem(f"{path}.include_path", f"{folder} is not a folder of task YAMLs"))
    if ev.get("metric_args"):
        problems.append(Problem(f"{path}.metric_args", "lm-eval computes these metrics with its own settings; metric_args do not apply"))
    if isinstance(ev.get("data"), str) and isinstance(ev.get("split", "test"), str):
        try:
            sources.fingerprint(ev["data"], ev.get("split", "test"), base_dir)
        except HarnessError as err:
            problems.append(Problem(f"{path}.data", str(err)))
    return problems


def _exists(path: Path, kind: str) -> bool:
    try:
        return path.is_file() if kind == "file" else path.is_dir()
    except OSError:  # a name the system refuses to look up (longer than it allows) names nothing to read
        return False
