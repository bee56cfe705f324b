"""What every fuzz test shares: the hypothesis settings, the CLI run, the one verdict on
an outcome, and the tally benchmarks/fuzz.py reads.

The number of examples comes from here alone: HARNESS_FUZZ_EXAMPLES unset is the CI
profile (a few derandomized examples per test, so CI stays cheap and repeatable); set, it
is the full profile with that many random examples per test (benchmarks/fuzz.py). Neither
writes a hypothesis database, and hypothesis' other caches go to the temp folder, so
nothing lands in the repository.

The verdict (`assert_clean`): a bad input ends in exit code 2 with a message naming the
file (and, for suites, the YAML path of each problem), or in a warning with the rest of the
work done; never in another exception. Each outcome is appended to the file named by
HARNESS_FUZZ_LOG (one JSON line per case), before it is judged, so a crash is counted too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from harness.errors import HarnessError

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
CI_EXAMPLES = 10  # per test: every fuzz test together stays well under a minute on 2 cores

_HEALTH = [
    HealthCheck.function_scoped_fixture,  # each example makes its own folder (case_dir), never reuses tmp_path's files
    HealthCheck.too_slow,  # a case runs a whole CLI command
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
]
settings.register_profile("harness-fuzz-ci", max_examples=CI_EXAMPLES, deadline=None, database=None,
                          derandomize=True, suppress_health_check=_HEALTH)
settings.register_profile("harness-fuzz-full", max_examples=int(os.environ.get("HARNESS_FUZZ_EXAMPLES") or CI_EXAMPLES),
                          deadline=None, database=None, print_blob=True, suppress_health_check=_HEALTH)
# Used as a decorator on each test (not loaded globally), so other tests keep hypothesis' defaults.
FUZZ = settings.get_profile("harness-fuzz-full" if os.environ.get("HARNESS_FUZZ_EXAMPLES") else "harness-fuzz-ci")
# Without a database hypothesis still caches what it learns of the code under test in
# .hypothesis/ of the folder pytest started in (the repository): keep that in the temp folder.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "harness-fuzz-hypothesis")


@contextmanager
def case_dir(parent: Path) -> Iterator[Path]:
    """A fresh folder per example (hypothesis reuses the test's tmp_path across examples)."""
    folder = Path(tempfile.mkdtemp(dir=parent, prefix="case-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def invoke(*args: str) -> Result:
    """The real CLI in-process; exceptions are caught so that the verdict can name them."""
    from harness.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def tally(target: str, via: str, code: int | None, exception: BaseException | None) -> None:
    """One line per case for benchmarks/fuzz.py: what was broken, what read it, the exit code, any crash."""
    log = os.environ.get("HARNESS_FUZZ_LOG")
    if not log:
        return
    crash = None if exception is None or isinstance(exception, SystemExit) else type(exception).__name__
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps({"target": target, "via": via, "exit": code, "exception": crash}) + "\n")


def short(text: str, limit: int = 3000) -> str:
    """Text for a failure message: a megabyte-long line in a mutated file must not flood the log."""
    return text if len(text) <= limit else f"{text[:limit // 2]}\n[... {len(text) - limit:,} characters ...]\n{text[-limit // 2:]}"


def assert_clean(target: str, via: str, result: Result, names: list[str], codes: tuple[int, ...] = (0, 2)) -> None:
    """The CLI ended with an allowed exit code and no exception; on 2, the message names one of `names`."""
    tally(target, via, result.exit_code, result.exception)
    case, output = f"{target} ({via})", short(result.output)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else repr(result.exception)
        raise AssertionError(f"{case}: crashed instead of a clear error\n{output}\n{short(trace, 6000)}")
    assert result.exit_code in codes, f"{case}: exit code {result.exit_code}\n{output}"
    assert "Traceback" not in result.output, output
    if result.exit_code == 2:
        assert "error:" in result.output or "Error:" in result.output, output
        assert any(name in result.output for name in names), f"{case}: the message names none of {names}:\n{output}"


def call_clean(target: str, via: str, fn: Callable[[], Any], names: list[str]) -> Any:
    """A library call (a data reader) returns or raises HarnessError naming one of `names`;
    counted as exit 0 or 2, as the CLI would end."""
    case = f"{target} ({via})"
    try:
        value = fn()
    except HarnessError as err:
        tally(target, via, 2, None)
        assert any(name in str(err) for name in names), f"{case}: the error names none of {names}: {short(str(err))}"
        return None
    except Exception as err:
        tally(target, via, None, err)
        raise AssertionError(f"{case}: crashed instead of a clear error\n{short(traceback.format_exc(), 6000)}") from err
    tally(target, via, 0, None)
    return value
