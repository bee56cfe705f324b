"""Multiple-choice questions: MMLU folders (`mmlu:FOLDER`) and question/choices/answer files.

Owns reading them into rows {"question", "choices", "answer" (index), "subject"} and the
few-shot examples that go before each question.

An MMLU folder is laid out as hendrycks/test ships it: FOLDER/{split}/SUBJECT_{split}.csv,
no header, each row question, A, B, C, D, answer letter. FOLDER is relative to the suite's
folder, like a local file. The eval's `subjects` pick files (all found when left out) and
its `split` picks the folder, datasets syntax included; a slice applies to each subject on
its own ("test[:25]" is the first 25 questions of every subject, so subjects stay
balanced), then `limit` cuts the whole list (subjects in the order given, else sorted).
Shots are the first k rows of the same subject's dev split (FOLDER/dev/SUBJECT_dev.csv),
as in lm-eval's mmlu task.

Any other data reference (jsonl, json, csv, hf:) holds one question per row with
`question`, `choices` (a list) and `answer` (an index, or a letter A, B, ...), and may
have a `subject`. Its shots come from the source's `dev` split, same subject; a local file
has one set of rows, so there the pool is the file itself and the question being asked is
skipped (lm-eval does the same when the few-shot and test splits are one).

Rows of other data references are read by harness/data/questions.py.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
from pathlib import Path

from harness.data.files import FINGERPRINT_LENGTH
from harness.data.splits import resolve_split
from harness.errors import HarnessError, short_repr

PREFIX = "mmlu:"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
COLUMNS = frozenset({"question", "choices", "answer", "subject"})
SHOT_SPLIT = "dev"  # where few-shot examples come from, as in lm-eval's mmlu task


def is_mmlu(ref: str) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def folder(ref: str, base_dir: Path) -> Path:
    """The folder an mmlu: reference names; relative paths start at the suite's folder."""
    name = ref[len(PREFIX):]
    if not name:
        raise HarnessError(f"data reference {ref!r} names no folder; write mmlu:FOLDER (holding dev/ and test/)")
    path = Path(name).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if not _is_dir(path):
        raise HarnessError(f"MMLU folder {short_repr(str(path), 200)} does not exist (from {short_repr(ref, 200)}, "
                           f"relative to {base_dir}); fix the path")
    return path


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name the system refuses to look up (too long, no permission) is no folder to read
        return False


def subjects_in(root: Path, split: str) -> list[str]:
    """Every subject with a file in FOLDER/split/, sorted."""
    suffix = f"_{split}.csv"
    where = root / split
    if not _is_dir(where):
        known = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise HarnessError(f"MMLU folder {root} has no {split}/ folder; it has: {', '.join(known) or 'nothing'}")
    return sorted(p.name[: -len(suffix)] for p in where.glob(f"*{suffix}"))


def check_subjects(root: Path, split: str, wanted: list[str]) -> None:
    """Raise naming the first unknown subject, with a did-you-mean and the list."""
    known = subjects_in(root, split)
    for subject in wanted:
        if subject not in known:
            close = difflib.get_close_matches(subject, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise HarnessError(f"no subject {subject!r} in {root / split}{hint} known: {', '.join(known)}")


def read_csv(path: Path, subject: str) -> list[dict]:
    """One MMLU file's rows; a malformed row raises naming the file and row number."""
    rows: list[dict] = []
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for values in reader:
                if not values:
                    continue  # a blank line is not a question
                # a quoted field may span lines, so the row number and the line can differ
                place = f"{path} row {len(rows) + 1} (line {reader.line_num})"
                if len(values) != 6:
                    raise HarnessError(f"{place}: {len(values)} fields, expected 6 (question, A, B, C, D, answer "
                                       "letter); quote values that contain commas")
                answer = values[5].strip()
                if answer not in ("A", "B", "C", "D"):
                    raise HarnessError(f"{place}: answer {values[5]!r} is not one of A, B, C, D")
                rows.append({"question": values[0], "choices": values[1:5], "answer": LETTERS.index(answer),
                             "subject": subject})
    except csv.Error as err:
        raise HarnessError(f"{path}: cannot be read as CSV ({err})") from None
    except UnicodeDecodeError as err:
        raise HarnessError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return rows


def load(ref: str, split: str, base_dir: Path, subjects: list[str] | None = None,
         limit: int | None = None) -> list[dict]:
    """The questions of one split: every subject's slice, subject after subject."""
    root = folder(ref, base_dir)
    # One part per '+' of the split; the slice bounds depend on each subject's row count.
    names = [part.splitname for part in resolve_split(split, ref, None, lambda name: 0)]
    chosen = list(subjects) if subjects else subjects_in(root, names[0])
    rows: list[dict] = []
    for subject in chosen:
        for name in names:
            check_subjects(root, name, [subject])
        tables = {name: read_csv(root / name / f"{subject}_{name}.csv", subject) for name in names}
        for part in resolve_split(split, ref, None, lambda name: len(tables[name])):
            rows += tables[part.splitname][part.from_:part.to]
    rows = rows[:limit] if limit is not None else rows
    if not rows:
        raise HarnessError(f"split {split!r} of {root} holds no questions for {', '.join(chosen) or 'any subject'}")
    return rows


def columns(ref: str, split: str, base_dir: Path) -> set[str]:
    """The fields every question has; checks that the folder and split exist."""
    root = folder(ref, base_dir)
    for part in resolve_split(split, ref, None, lambda name: 0):
        if not subjects_in(root, part.splitname):
            raise HarnessError(f"{root / part.splitname} holds no SUBJECT_{part.splitname}.csv files")
    return set(COLUMNS)


def fingerprint(ref: str, split: str, base_dir: Path) -> str:
    """Hash of every file an eval of this split may read: each subject's split files and
    dev files (names and bytes), since the subjects and shots are not known here."""
    root = folder(ref, base_dir)
    digest = hashlib.sha256(b"mmlu\0")
    names = {part.splitname for part in resolve_split(split, ref, None, lambda name: 0)}
    for name in names:
        subjects_in(root, name)  # a missing split folder is an error here, not an empty hash
    names.add(SHOT_SPLIT)
    for name in sorted(names):
        for path in sorted((root / name).glob(f"*_{name}.csv")):
            digest.update(f"{name}/{path.name}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    digest.update(b"\0split\0" + split.encode())
    return digest.hexdigest()[: FINGERPRINT_LENGTH]
