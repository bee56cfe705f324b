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
"validation[10:20]". Slices are resolved by datasets' own ReadInstruction, so "80%" rounds
exactly as load_dataset would. A local file is one set of rows: it serves any split name,
and the slice applies to its rows (so "train[:80%]" and "test[80%:]" of one file are
disjoint; "a+b" is refused for a file because it would repeat rows); a parallel pair is
one set of rows too. A builtin task has
named splits and asking for another is an error.

Formats: jsonl is read line by line so a bad line is reported by number; json is a list of
objects or {"data": [...]}; csv and tsv keep every value a string (no type guessing, "NA"
stays "NA"), and tsv is read without quote handling, as GLUE-style files are written;
parquet goes through pyarrow, so nested values come back as Python lists and dicts.

To add a format, add its suffix to READERS with a function (path) -> list of rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

log = logging.getLogger(__name__)

COLUMN_SAMPLE = 100  # columns() looks at this many rows: enough to see optional fields
FINGERPRINT_LENGTH = 16  # hex digits: 64 bits, ample to tell datasets apart
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


def _read_parallel(ref: str, base_dir: Path) -> list[dict]:
    """Rows {"source", "target"} from two line-aligned files; their line counts must agree."""
    columns = []
    for path in parallel_paths(ref, base_dir):
        if not path.is_file():
            raise HarnessError(f"data file {path} does not exist (from {ref!r}, relative to {base_dir}); fix the path")
        with _open_text(path) as f:
            lines = [line.rstrip("\r\n") for line in _decoded(f, path)]
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
        from harness.data import mmlu  # it reads through this module

        rows, where = mmlu.load(ref, split, base_dir, limit=limit), ref
    elif source.kind == "hf":
        rows = _load_hf(source, ref, split, limit)
        where = f"hf dataset {ref}"
    elif source.kind == "builtin":
        task = _builtin_task(source.name)
        parts = _absolute(split, ref, task.splits, lambda name: len(task.generate(name)))
        rows = [row for part in parts for row in task.generate(part.splitname)[part.from_:part.to]]
        where = ref
    else:
        if source.kind == "parallel":
            all_rows, where = _read_parallel(ref, base_dir), ref
        else:
            path = resolve_path(ref, base_dir)
            if not path.is_file():
                raise HarnessError(f"data file {path} does not exist (from {ref!r}, relative to {base_dir}); fix the path")
            all_rows, where = READERS[path.suffix.lower()](path), str(path)
        parts = _absolute(split, ref, None, lambda name: len(all_rows))
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
        from harness.data import mmlu

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
        from harness.data import mmlu

        return mmlu.fingerprint(ref, split, base_dir)
    digest = hashlib.sha256()
    if source.kind in ("local", "parallel"):
        paths = parallel_paths(ref, base_dir) if source.kind == "parallel" else (resolve_path(ref, base_dir),)
        digest.update(source.kind.encode() + b"\0")
        for path in paths:
            if not path.is_file():
                raise HarnessError(f"data file {path} does not exist (from {ref!r}, relative to {base_dir}); fix the path")
            digest.update(path.suffix.lower().encode() + b"\0")
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):  # streamed: data files may be large
                    digest.update(chunk)
            if source.kind == "parallel":
                digest.update(b"\0")  # where the first file ends
    elif source.kind == "builtin":
        task = _builtin_task(source.name)
        digest.update(f"builtin\0{task.name}\0{task.version}".encode())
    else:
        digest.update(f"hf\0{ref}".encode())
    digest.update(b"\0split\0" + split.encode())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def _absolute(split: str, ref: str, known: tuple[str, ...] | None, length: Callable[[str], int]) -> list:
    """datasets' own reading of a split string: [(splitname, from_, to)], one per '+' part.

    `known` lists the split names a source has (None: any name, as for a local file);
    `length` gives a split's row count.
    """
    import datasets  # slow to import; only needed once a split is read

    if not isinstance(split, str):
        raise HarnessError(f"{ref}: split must be a string such as 'train' or 'train[:80%]', got {split!r}")
    try:
        instruction = datasets.ReadInstruction.from_spec(split)
        # ReadInstruction keeps its parts private; resolving against a mapping that knows
        # every name reads them through the public API.
        names = [part.splitname for part in instruction.to_absolute(_AnyName())]
    except (ValueError, AssertionError) as err:
        raise HarnessError(
            f"{ref}: split {split!r} is not valid ({err}); write e.g. 'train', 'train[:80%]', 'validation[10:20]'"
        ) from None
    for name in names:
        if known is not None and name not in known:
            raise HarnessError(f"{ref} has no split {name!r}; it has: {', '.join(known)}")
    return instruction.to_absolute({name: length(name) for name in names})


class _AnyName(Mapping):
    """Every split name is present, with no rows."""

    def __getitem__(self, name: str) -> int:
        return 0

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


def _builtin_task(name: str):
    from harness.data.builtin import BUILTIN_TASKS

    if name not in BUILTIN_TASKS:
        from harness.registry import TASKS

        raise HarnessError(f"builtin:{name}: {TASKS.unknown_message(name)}")
    return BUILTIN_TASKS[name]


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


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with _open_text(path) as f:
        for lineno, line in enumerate(_decoded(f, path), start=1):
            if not line.strip():
                continue  # blank lines (often a trailing one) are not rows
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise HarnessError(f"{path} line {lineno}: not valid JSON ({err.msg}, column {err.colno}); fix or remove the line") from None
            if not isinstance(row, dict):
                raise HarnessError(f"{path} line {lineno}: a row must be a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[dict]:
    with _open_text(path) as f:
        try:
            data = json.loads("".join(_decoded(f, path)))
        except json.JSONDecodeError as err:
            raise HarnessError(f"{path} line {err.lineno}: not valid JSON ({err.msg}, column {err.colno})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a list of objects or {{\"data\": [...]}}, got {type(data).__name__}")
    for i, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise HarnessError(f"{path} row {i}: a row must be a JSON object, got {type(row).__name__}")
    return data


def _read_table(path: Path, sep: str) -> list[dict]:
    # The csv module rather than pandas: values stay strings with no type guessing, and a
    # row with the wrong number of fields is an error naming its line, not a silent NaN.
    kind = "TSV" if sep == "\t" else "CSV"
    # TSV has no quoting convention (GLUE files hold bare quotes); CSV has RFC 4180 quoting.
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # long documents in one cell
    rows = []
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(_decoded(f, path), delimiter=sep, quoting=quoting)
        try:
            header = next(reader, None)
            if header is None:
                return []
            for i, name in enumerate(header, start=1):
                if not name or name in header[: i - 1]:
                    raise HarnessError(f"{path} line 1: column {i} header {name!r} is empty or repeated; give each column its own name")
            for values in reader:
                if not values:
                    continue  # blank line
                if len(values) != len(header):
                    raise HarnessError(
                        f"{path} line {reader.line_num} (row {len(rows) + 1}): {len(values)} fields, but the header "
                        f"has {len(header)} ({', '.join(header)}); fix the row"
                        + ("" if sep == "\t" else " (quote values that contain commas)")
                    )
                rows.append(dict(zip(header, values)))
        except csv.Error as err:
            raise HarnessError(f"{path} line {reader.line_num}: cannot be read as {kind} ({err})") from None
    return rows


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except pyarrow.ArrowException as err:
        raise HarnessError(f"{path}: cannot be read as Parquet ({err})") from None


def _open_text(path: Path):
    # utf-8-sig: a byte-order mark (common from Windows tools) is not part of the first row.
    return path.open("r", encoding="utf-8-sig")


def _decoded(lines, path: Path):
    """Lines of a text file, with a decoding error reported against the file."""
    try:
        yield from lines
    except UnicodeDecodeError as err:
        raise HarnessError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None


READERS: dict[str, Callable[[Path], list[dict]]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": lambda path: _read_table(path, ","),
    ".tsv": lambda path: _read_table(path, "\t"),
    ".parquet": _read_parquet,
}
