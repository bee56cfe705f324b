"""Loading one split of a data reference as a list of row dicts.

A reference is one of:
  builtin:NAME              a task the harness generates (harness/data/builtin)
  hf:DATASET[:CONFIG]       a hub dataset, through datasets.load_dataset
  PATH                      a local .jsonl .json .csv .tsv or .parquet file, relative to
                            the suite file's folder unless absolute
  mmlu:FOLDER               an MMLU folder (FOLDER/{split}/SUBJECT_{split}.csv), read by
                            harness/data/mmlu.py; rows are multiple-choice questions
  parallel:SOURCE|TARGET    two line-aligned plain-text files (a translation test set such
                            as WMT's newstest); row i is {"source": line i of SOURCE,
                            "target": line i of TARGET}; both paths as for a local file

Splits use the datasets syntax, slices included: "train", "train[:80%]", "train[80%:]",
"validation[10:20]", resolved as load_dataset would (harness/data/splits.py). A local file
is one set of rows: it serves any split name, and the slice applies to its rows (so
"train[:80%]" and "test[80%:]" of one file are disjoint; "a+b" is refused for a file
because it would repeat rows); a parallel pair is one set of rows too. A builtin task has
named splits and asking for another is an error. Files are read by harness/data/files.py;
to add a format, add its suffix to READERS there.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from harness.data import builtin, mmlu
from harness.data.files import FINGERPRINT_LENGTH, READERS, decoded, open_text
from harness.data.splits import resolve_split
from harness.errors import HarnessError, short_repr

log = logging.getLogger(__name__)

COLUMN_SAMPLE = 100  # columns() looks at this many rows: enough to see optional fields
_CHUNK = 1 << 20
PARALLEL = "parallel:"


@dataclass(frozen=True)
class DataRef:
    kind: str  # "builtin" | "hf" | "local" | "mmlu" | "parallel"
    name: str  # task name, dataset id, or the path as written (parallel: "SOURCE|TARGET")
    config: str | None = None  # hf only


def parse_ref(ref: str) -> DataRef:
    """Which kind of source a reference names; malformed references raise HarnessError."""
    if not isinstance(ref, str) or not ref.strip():
        raise HarnessError(f"data reference {ref!r} is empty; write builtin:NAME, hf:DATASET[:CONFIG] or a file path")
    if ref.startswith("builtin:"):
        if not ref[8:]:
            raise HarnessError(f"data reference {ref!r} names no task; write builtin:NAME (see `harness ls tasks`)")
        return DataRef("builtin", ref[8:])
    if ref.startswith("mmlu:"):
        return DataRef("mmlu", ref[5:])
    if ref.startswith(PARALLEL):
        parallel_paths(ref, Path("."))  # checks the form
        return DataRef("parallel", ref[len(PARALLEL):])
    if ref.startswith("hf:"):
        dataset, _, config = ref[3:].partition(":")
        if not dataset or (_ and not config) or ":" in config:
            raise HarnessError(f"data reference {ref!r} is malformed; write hf:DATASET or hf:DATASET:CONFIG")
        return DataRef("hf", dataset, config or None)
    suffix = Path(ref).suffix.lower()
    if suffix not in READERS:
        raise HarnessError(
            f"data reference {ref!r} is not builtin:NAME, hf:DATASET[:CONFIG] or a file ending "
            f"{' '.join(sorted(READERS))}; rename the file or fix the reference"
        )
    return DataRef("local", ref)


def is_local_ref(ref: str) -> bool:
    """True when the reference names a local file (anything not builtin: or hf:)."""
    return not (ref.startswith("builtin:") or ref.startswith("hf:"))


def resolve_path(ref: str, base_dir: Path) -> Path:
    """The file a local reference names: relative paths are taken from base_dir (the suite's folder)."""
    if not is_local_ref(ref):
        raise HarnessError(f"data reference {ref!r} is not a local file")
    path = Path(ref).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def parallel_paths(ref: str, base_dir: Path) -> tuple[Path, Path]:
    """The two files of a parallel:SOURCE|TARGET reference, resolved like local files."""
    parts = ref[len(PARALLEL):].split("|")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise HarnessError(
            f"data reference {ref!r} is malformed; write parallel:SOURCE|TARGET, two line-aligned text "
            "files (for example parallel:newstest2019-src.eng.txt|newstest2019-ref.deu.txt)"
        )
    resolved = []
    for part in parts:
        path = Path(part.strip()).expanduser()
        resolved.append(path if path.is_absolute() else Path(base_dir) / path)
    return resolved[0], resolved[1]


def _existing_file(path: Path, ref: str, base_dir: Path) -> Path:
    """The file a local reference names, or HarnessError saying why it cannot be read: it
    does not exist, or the system refuses to look the name up (longer than it allows, a
    folder without permission), which Path.is_file raises as OSError."""
    try:
        found = path.is_file()
    except OSError as err:
        raise HarnessError(f"data file {short_repr(str(path), 200)} cannot be looked up ({err.strerror}; from "
                           f"{short_repr(ref, 200)}); fix the path") from None
    if not found:
        raise HarnessError(f"data file {path} does not exist (from {ref!r}, relative to {base_dir}); fix the path")
    return path


def _read_parallel(ref: str, base_dir: Path) -> list[dict]:
    """Rows {"source", "target"} from two line-aligned files; their line counts must agree."""
    columns = []
    for path in parallel_paths(ref, base_dir):
        with open_text(_existing_file(path, ref, base_dir)) as f:
            lines = [line.rstrip("\r\n") for line in decoded(f, path)]
        while lines and not lines[-1].strip():
            lines.pop()  # trailing blank lines are not segments
        columns.append((path, lines))
    (src_path, src), (tgt_path, tgt) = columns
    if len(src) != len(tgt):
        raise HarnessError(
            f"{ref}: {src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
            "a parallel pair needs one target line per source line"
        )
    return [{"source": s, "target": t} for s, t in zip(src, tgt)]


def load_split(ref: str, split: str, base_dir: Path, limit: int | None = None) -> list[dict]:
    """The rows of one split (slices applied), at most `limit` of them; never empty."""
    if limit is not None and limit < 1:
        raise HarnessError(f"{ref}: limit must be a positive number of rows, got {limit}")
    source = parse_ref(ref)
    if source.kind == "mmlu":
        rows, where = mmlu.load(ref, split, base_dir, limit=limit), ref
    elif source.kind == "hf":
        rows = _load_hf(source, ref, split, limit)
        where = f"hf dataset {ref}"
    elif source.kind == "builtin":
        task = builtin.task(source.name)
        parts = resolve_split(split, ref, task.splits, lambda name: len(task.generate(name)))
        rows = [row for part in parts for row in task.generate(part.splitname)[part.from_:part.to]]
        where = ref
    else:
        if source.kind == "parallel":
            all_rows, where = _read_parallel(ref, base_dir), ref
        else:
            path = _existing_file(resolve_path(ref, base_dir), ref, base_dir)
            all_rows, where = READERS[path.suffix.lower()](path), str(path)
        parts = resolve_split(split, ref, None, lambda name: len(all_rows))
        if len(parts) != 1:
            raise HarnessError(
                f"split {split!r} of {where} adds several splits, but a local file has one set of rows; "
                "use one split with a slice such as 'train[:80%]'"
            )
        rows = all_rows[parts[0].from_:parts[0].to]
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise HarnessError(f"split {split!r} of {where} is empty; check the file or the slice")
    log.debug("loaded %d rows from %s split %s", len(rows), where, split)
    return rows


def map_columns(rows: list[dict], mapping: dict[str, str], where: str) -> list[dict]:
    """Each row with mapping's new names added ({new: existing column}); originals kept."""
    if not mapping:
        return rows
    out = []
    for i, row in enumerate(rows):
        missing = [old for old in mapping.values() if old not in row]
        if missing:
            raise HarnessError(f"{where} row {i + 1}: columns {missing} (from columns:) are not in the row; it has {sorted(row)}")
        out.append({**row, **{new: row[old] for new, old in mapping.items()}})
    return out


def columns(ref: str, split: str, base_dir: Path) -> set[str]:
    """Field names of a split: the union over its first rows (for checking templates)."""
    if ref.startswith("mmlu:"):
        return mmlu.columns(ref, split, base_dir)
    names: set[str] = set()
    for row in load_split(ref, split, base_dir, limit=COLUMN_SAMPLE):
        names |= set(row)
    return names


def fingerprint(ref: str, split: str, base_dir: Path) -> str:
    """A short hash of what a split holds, so results are reused only on the same data.

    Local files (both, for a parallel pair) hash their bytes (not their path: a moved suite keeps its results) and
    suffix (the same bytes read as csv and tsv are different rows); builtin tasks hash their
    name and generator version; hub datasets can only hash the reference (offline).
    """
    source = parse_ref(ref)
    if source.kind == "mmlu":  # a folder: every file an eval of the split may read
        return mmlu.fingerprint(ref, split, base_dir)
    digest = hashlib.sha256()
    if source.kind in ("local", "parallel"):
        paths = parallel_paths(ref, base_dir) if source.kind == "parallel" else (resolve_path(ref, base_dir),)
        digest.update(source.kind.encode() + b"\0")
        for path in paths:
            _existing_file(path, ref, base_dir)
            digest.update(path.suffix.lower().encode() + b"\0")
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):  # streamed: data files may be large
                    digest.update(chunk)
            if source.kind == "parallel":
                digest.update(b"\0")  # where the first file ends
    elif source.kind == "builtin":
        task = builtin.task(source.name)
        digest.update(f"builtin\0{task.name}\0{task.version}".encode())
    else:
        digest.update(f"hf\0{ref}".encode())
    digest.update(b"\0split\0" + split.encode())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def _load_hf(source: DataRef, ref: str, split: str, limit: int | None) -> list[dict]:
    import datasets  # slow to import; only needed for hub data

    try:
        dataset = datasets.load_dataset(source.name, source.config, split=split)
    except Exception as err:  # network, missing dataset, bad config or split: all the user's to fix
        raise HarnessError(
            f"{ref}: could not load split {split!r} ({type(err).__name__}: {err}). Check the dataset name, "
            "config and split; without network access, download it where you can or use a local file"
        ) from None
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return dataset.to_list()
