"""Baseline files: a snapshot of one suite's results, written down to check later runs against.

The file is JSON and self-contained: every per-example score (or, for corpus metrics, the
predictions and references) is inside, so `harness check` needs nothing but the file and
the new results. It also keeps the suite's `check:` block (tolerances, alpha) as it was
when the baseline was taken, used when the new results carry no suite file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness import __version__
from harness.errors import HarnessError
from harness.gate.baseline_format import BaselineFile
from harness.gate.snapshot import snapshot
from harness.records.store import SUITE_COPY, suite_dirs, write_json_atomic

FORMAT = "harness-baseline"
FORMAT_VERSION = 1


def one_suite(results: Path) -> Path:
    """RESULTS as a single suite folder (results/<suite>), or a clear error."""
    found = suite_dirs(Path(results))
    if len(found) != 1:
        names = ", ".join(p.name for p in found)
        raise HarnessError(f"{results} holds {len(found)} suites ({names}); name one suite folder, e.g. {found[0]}")
    return found[0]


def suite_check_block(suite_dir: Path) -> dict[str, Any] | None:
    """The `check:` block of the suite file `harness run` kept beside the records, if any."""
    from harness.suite.schema import CheckSpec

    path = suite_dir / SUITE_COPY
    if not path.is_file():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        block = raw.get("check") if isinstance(raw, dict) else None
        return CheckSpec.model_validate(block or {}).model_dump()
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # RecursionError: YAML nested thousands deep
        raise HarnessError(f"{path}: its check: block is not valid ({(str(err) or type(err).__name__).splitlines()[0]}); "
                           "fix the suite") from None


def build(results: Path, notes: list[str]) -> dict[str, Any]:
    suite_dir = one_suite(results)
    snap = snapshot(suite_dir, notes)
    if not snap["variants"]:
        raise HarnessError(f"{suite_dir}: no ok records to take a baseline from")
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "harness_version": __version__, "source": str(suite_dir), "check": suite_check_block(suite_dir), **snap}


def write(path: Path, baseline: dict[str, Any]) -> Path:
    write_json_atomic(Path(path), baseline)
    return Path(path)


def read(path: Path) -> dict[str, Any]:
    """A baseline file, checked enough that a broken one is named rather than half-used."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"baseline file {path} does not exist; write one with `harness baseline RESULTS --out {path}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HarnessError(f"baseline file {path} is not readable JSON ({err})") from None
    except RecursionError:  # json's parser recurses per level
        raise HarnessError(f"baseline file {path} nests deeper than can be read; write it again with `harness baseline`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HarnessError(f"{path} is not a harness baseline (no \"format\": \"{FORMAT}\"); write one with `harness baseline`")
    if data.get("format_version") != FORMAT_VERSION:
        raise HarnessError(f"{path} is baseline format {data.get('format_version')}; this harness reads format {FORMAT_VERSION}")
    try:
        checked = BaselineFile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        raise HarnessError(f"{path}: {where or 'the file'}: {first['msg'][0].lower()}{first['msg'][1:]}"
                           f"{'' if len(err.errors()) == 1 else f' (and {len(err.errors()) - 1} more problem(s))'}; "
                           "write the baseline again with `harness baseline`") from None
    # The checked values (the check: block with its defaults filled in), every other key as it was.
    return checked.model_dump()
