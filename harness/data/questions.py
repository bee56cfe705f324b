"""Multiple-choice questions from any data reference: rows {"question", "choices",
"answer" (an index), "subject"} from an MMLU folder (harness/data/mmlu.py) or from a file
or dataset holding question/choices/answer rows, and the few-shot examples before each
question (the first k rows of the subject's dev split). LETTERS names the choices.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from harness.data import mmlu, sources
from harness.data.mmlu import LETTERS, SHOT_SPLIT, folder, is_mmlu, read_csv
from harness.errors import HarnessError


def questions(ref: str, split: str, base_dir: Path, subjects: list[str] | None = None,
              limit: int | None = None) -> list[dict]:
    """Rows {"question", "choices", "answer", "subject"} from an mmlu: folder or any data reference."""
    if is_mmlu(ref):
        return mmlu.load(ref, split, base_dir, subjects, limit)
    rows = _normalise(sources.load_split(ref, split, base_dir), f"{ref} ({split})")
    if subjects:
        present = sorted({r["subject"] for r in rows})
        for subject in subjects:
            if subject not in present:
                close = difflib.get_close_matches(subject, present, n=1, cutoff=0.6)
                raise HarnessError(f"{ref} ({split}) has no rows of subject {subject!r}"
                                   + (f"; did you mean {close[0]!r}?" if close else "") + f" it has: {', '.join(present)}")
        rows = [r for s in subjects for r in rows if r["subject"] == s]
    return rows[:limit] if limit is not None else rows


def shot_pool(ref: str, base_dir: Path, subject: str) -> tuple[list[dict], str]:
    """Every row of the subject's dev split, in order, and where they come from."""
    if is_mmlu(ref):
        path = folder(ref, base_dir) / SHOT_SPLIT / f"{subject}_{SHOT_SPLIT}.csv"
        if not path.is_file():
            raise HarnessError(f"few-shot prompts need {path}; add the dev file or set shots: 0")
        return read_csv(path, subject), str(path)
    where = f"{ref} ({SHOT_SPLIT})"
    return [r for r in _normalise(sources.load_split(ref, SHOT_SPLIT, base_dir), where) if r["subject"] == subject], where


def pool_is_eval_data(ref: str) -> bool:
    """True when shots are drawn from the very rows being scored (a local file has one set)."""
    return not is_mmlu(ref) and sources.is_local_ref(ref)


def first_shots(pool: list[dict], k: int, where: str, subject: str, skip: dict | None = None) -> list[dict]:
    """The first k rows of the pool, leaving out a row that is the question `skip` itself."""
    if skip is not None:
        pool = [r for r in pool if (r["question"], r["choices"]) != (skip["question"], skip["choices"])]
    if len(pool) < k:
        raise HarnessError(f"{k}-shot prompts need {k} examples" + (f" of subject {subject!r}" if subject else "")
                           + f", but {where} has {len(pool)}; lower shots:")
    return pool[:k]


def _normalise(rows: list[dict], where: str) -> list[dict]:
    out = []
    for number, row in enumerate(rows, start=1):
        place = f"{where} row {number}"
        missing = [c for c in ("question", "choices", "answer") if c not in row]
        if missing:
            raise HarnessError(f"{place}: no field(s) {', '.join(missing)}; a multiple-choice row has question, "
                               f"choices (a list) and answer (an index or a letter); it has {', '.join(sorted(row))}")
        choices = row["choices"]
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
            raise HarnessError(f"{place}: choices must be a list of 2 to {len(LETTERS)} options, got {choices!r}")
        out.append({"question": str(row["question"]), "choices": [str(c) for c in choices],
                    "answer": _answer_index(row["answer"], len(choices), place), "subject": str(row.get("subject") or ""),
                    **({"id": row["id"]} if "id" in row else {})})  # the data's own id names the example
    return out


def _answer_index(answer, n: int, place: str) -> int:
    if isinstance(answer, bool):  # a bool is an int to Python, never an answer
        answer = None
    if isinstance(answer, str) and answer.strip().isdigit():
        answer = int(answer.strip())
    if isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip() in LETTERS[:n]:
        return LETTERS.index(answer.strip())
    if isinstance(answer, int) and 0 <= answer < n:
        return answer
    raise HarnessError(f"{place}: answer {answer!r} is not an index 0-{n - 1} or a letter A-{LETTERS[n - 1]}")


