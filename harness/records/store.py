"""The one store of results: records and their files, written atomically, read back, locked.

Layout: RESULTS/<suite>/<variant_id>/record.json, with per-example predictions beside it
in predictions/<eval>.jsonl (harness/records/predictions.py). The worker writes a record
once, whole (temp file + rename), so a crash never leaves half a record; after that only
its comparison fields are rewritten (harness/analysis/compare.py) and its scores re-scored
from the saved predictions (harness/analysis/rescore.py), each under the variant's lock, so
two runs never write one variant. Imports no torch: leaderboards and CI gates read records
anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import filelock

from harness.errors import HarnessError
from harness.records.schema import Record


def variant_dir(results_dir: Path, suite: str, variant_id: str) -> Path:
    return Path(results_dir) / suite / variant_id


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, fsync, rename: readers see old or new, never half."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes, sync: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}@{_HOST}.", suffix=TEMP_SUFFIX)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the file should read like any other
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# A temp file is named for the process writing it (.NAME.PID@HOST.random.tmp), so one left by
# a killed process is told apart from one a live process is still writing, even when
# several machines share the results folder.
TEMP_SUFFIX = ".tmp"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP_NAME = re.compile(r"^\..+\.(\d+)@([A-Za-z0-9-]+)\.[^.]+\.tmp$")


def sweep_temp_files(root: Path) -> list[Path]:
    """Remove the temp files under `root` that a process of this machine, now dead, left when
    it was killed mid-write; the paths removed. Another machine's are left alone."""
    removed = []
    for path in Path(root).rglob(f".*{TEMP_SUFFIX}"):
        match = _TEMP_NAME.match(path.name)
        if match is None or match.group(2) != _HOST or process_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of this machine runs: it exists and is not a zombie (Linux says so in
    /proc; without /proc a zombie counts as alive until its parent reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")  # the state follows the name in parentheses


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# A list of plain numbers (a loss-curve point) reads best on one line. json.dumps puts a
# raw newline after "[" only outside strings (inside, newlines are escaped), so only real
# lists match.
_NUMBER_LIST = re.compile(r"\[\n\s*(-?[\d.eE+-]+(?:,\n\s*-?[\d.eE+-]+)*)\n\s*\]")


def write_json_atomic(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    text = _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]", text)
    write_text_atomic(path, text + "\n")


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open_text(path) as f:
        for lineno, line in enumerate(decoded(f, path), start=1):
            if not line.strip():
                continue  # blank lines (often a trailing one) are not rows
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise HarnessError(f"{path} line {lineno}: not valid JSON ({err.msg}, column {err.colno}); fix or remove the line") from None
            except RecursionError:
                raise HarnessError(f"{path} line {lineno}: nested deeper than a row can be; fix or remove the line") from None
            if not isinstance(row, dict):
                raise HarnessError(f"{path} line {lineno}: a row must be a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def open_text(path: Path):
    # utf-8-sig: a byte-order mark (common from Windows tools) is not part of the first row.
    return path.open("r", encoding="utf-8-sig")


def decoded(lines, path: Path):
    """Lines of a text file, with a decoding error reported against the file."""
    try:
        yield from lines
    except UnicodeDecodeError as err:
        raise HarnessError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None


def write_record(directory: Path, record: Record) -> Path:
    path = directory / "record.json"
    write_json_atomic(path, record.model_dump(mode="json"))
    return path


def read_record(path: Path) -> Record:
    return Record.model_validate_json(Path(path).read_text(encoding="utf-8"))


def existing_ok(directory: Path) -> Record | None:
    """The variant's record if it finished ok (failed ones are run again)."""
    path = directory / "record.json"
    if not path.is_file():
        return None
    try:
        record = read_record(path)
    except ValueError:
        return None  # unreadable: recompute rather than trust it
    return record if record.status == "ok" else None


def inside(folder: Path, path: Path) -> bool:
    """Whether `path`, links followed, lies in `folder` (links followed too)."""
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError, ValueError):  # a loop of links, a name the system refuses
        return False


def readable_records(suite_dir: Path, notes: list[str]) -> list[tuple[Path, Record]]:
    """(path, record) of every record in a suite folder, ok or failed; unreadable ones, and
    ones reached through a link leading out of the folder (rewriting their comparisons or
    scores would write there), noted and skipped."""
    out = []
    for path in sorted(Path(suite_dir).glob("*/record.json")):
        if not inside(suite_dir, path):
            notes.append(f"{path}: a link out of {suite_dir}; not read (copy the variant's folder in instead)")
            continue
        try:
            out.append((path, read_record(path)))
        except ValueError as err:
            notes.append(f"{path}: unreadable record left alone ({str(err).splitlines()[0]})")
    return out


def ok_records(suite_dir: Path, notes: list[str]) -> list[tuple[Path, Record]]:
    """(path, record) of each ok record in a suite folder; unreadable ones noted and skipped."""
    return [(path, record) for path, record in readable_records(suite_dir, notes) if record.status == "ok"]


def suite_dirs(results: Path) -> list[Path]:
    """RESULTS itself when it holds variant folders, else each suite folder inside it."""
    results = Path(results)
    if not results.is_dir():
        raise HarnessError(f"{results}: no such folder; give a results/<suite> folder or a results folder holding suites")
    if any(results.glob("*/record.json")):
        return [results]
    found = sorted({p.parent.parent for p in results.glob("*/*/record.json")})
    if not found:
        raise HarnessError(f"{results}: no records found (expected <suite>/<variant_id>/record.json under it)")
    return found


# `harness run` keeps the suite file as written beside the records, for the leaderboard's provenance.
SUITE_COPY = "suite.yaml"


def write_suite_copy(suite_dir: Path, text: str) -> Path:
    path = Path(suite_dir) / SUITE_COPY
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # a rerun leaves the folder untouched
        write_text_atomic(path, text)
    return path


class Busy(Exception):
    """Another process holds this variant's lock; str() says which, as far as it is known."""


HOLDER = ".holder"  # who holds a variant's lock: {"pid", "host", "since", "command"}


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the variant's lock (filelock: an OS lock the kernel drops when its process dies,
    so a lock left by a killed run never blocks), or raise Busy at once."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(directory / ".lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise Busy(holder(directory)) from None
    try:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(["harness", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("harness") else None}
        write_bytes_atomic(directory / HOLDER, json.dumps(me).encode(), sync=False)
        yield
    finally:
        lock.release()


def holder(directory: Path) -> str:
    """Who holds the variant's lock, in words, from what the holder wrote when it took it."""
    try:
        who = json.loads((Path(directory) / HOLDER).read_text(encoding="utf-8"))
        text = f"pid {int(who['pid'])} on {who['host']} since {who['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    return text + (f" ({who['command']})" if who.get("command") else "")


def live_holder(directory: Path) -> dict[str, Any] | None:
    """What the process holding the variant's lock wrote when it took it ({"pid", "host",
    "since", "command"}), if that process is alive on this machine; else None. Reads only:
    takes no lock."""
    try:
        who = json.loads((Path(directory) / HOLDER).read_text(encoding="utf-8"))
        alive = who["host"] == socket.gethostname() and process_alive(int(who["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return who if alive else None
