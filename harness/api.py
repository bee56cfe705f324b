"""The Python API: what `harness validate`, `harness run` and `harness report --format csv` do,
as functions a notebook or a script calls. The command line is a thin layer over these.

    import harness

    suite = harness.load_suite("suites/quickstart.yaml", overrides=["train.steps=5"])
    variants = harness.plan(suite)                      # ids, methods, seeds; nothing run
    records = harness.run(suite, results="results")     # trains and evaluates; one Record each
    frame = harness.load_results("results/quickstart")  # pandas: one row per variant and metric

Errors a user can cause raise harness.errors.HarnessError (a SuiteError lists every problem
with its YAML path); nothing here prints: progress goes to the `harness` logger. Importing
this module imports no torch: training runs in child processes (or Ray tasks).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from harness.errors import HarnessError
from harness.records.schema import Record
from harness.suite.schema import LoadedSuite
from harness.suite.variant import Variant

if TYPE_CHECKING:
    import pandas

log = logging.getLogger("harness.api")


def load_suite(source: str | Path | Mapping[str, Any] | LoadedSuite, overrides: Sequence[str] = (),
               base_dir: str | Path | None = None) -> LoadedSuite:
    """A suite file (or the suite as a dict), read and validated.

    `overrides` are `key.path=value` strings, as `--set` takes them (`"methods[0].params.r=16"`);
    relative paths in a dict resolve from `base_dir` (default: the working directory).
    Raises SuiteError listing every problem with its YAML path.
    """
    from harness.suite.loading import load_suite as _load

    if isinstance(source, LoadedSuite):
        if overrides or base_dir is not None:
            raise HarnessError("load_suite: overrides and base_dir apply when the suite is read; pass the file or dict")
        return source
    return _load(source, overrides=tuple(overrides), base_dir=base_dir)


def plan(suite: str | Path | Mapping[str, Any] | LoadedSuite, only: str | None = None) -> list[Variant]:
    """The variants a run would compute, in order: each with its id, name, method, seed and
    resolved settings. `only` is a glob on names or ids, as `harness run --only` takes it."""
    from harness.suite.plan import plan as _plan

    variants = _plan(load_suite(suite))
    if only is None:
        return variants
    chosen = [v for v in variants if fnmatch.fnmatch(v.name, only) or fnmatch.fnmatch(v.id, only)]
    if not chosen:
        raise HarnessError(f"only {only!r} matches no variant's name or id (names: {', '.join(v.name for v in variants)})")
    return chosen


@dataclass
class Session:
    """A run ready to start: its variants, where records go, where it runs. `outcomes()` runs
    it, yielding each variant's Outcome as it starts and ends (and, with several at once,
    progress Boards); the command line prints them, `run` collects them."""

    loaded: LoadedSuite
    variants: list[Variant]
    suite_dir: Path
    where: str  # the hardware, in words: "cpu (2 cores, 1 at a time)", "ray (a local instance)"
    alone: bool  # one variant at a time: its own progress goes to the terminal
    notes: list[str] = field(default_factory=list)
    _outcomes: Any = None

    def outcomes(self) -> Iterator[Any]:
        yield from self._outcomes()


def start(suite: str | Path | Mapping[str, Any] | LoadedSuite, results: str | Path = "results", *,
          only: str | None = None, force: bool = False, executor: Literal["local", "ray"] = "local",
          address: str | None = None, retries: int = 0, jobs: int | None = None, gpus: str | Sequence[str] | None = None,
          gpu_memory: str | None = None, timeout: float | None = None, wait: bool = True,
          trackers: Sequence[str] = ()) -> Session:
    """Check the options and prepare the run (`harness run`'s options, same names); nothing
    runs until the Session's outcomes are read. Writes the suite copy into the results folder.

    `trackers` adds to the suite's `trackers:` (tensorboard, mlflow, wandb): each variant that
    runs is logged to them from its record once it is written (harness/track)."""
    from harness.records.store import sweep_temp_files, write_suite_copy
    from harness.run.slots import CpuPool, parse_gpus, plan_pool
    from harness.suite.loading import suite_text
    from harness.suite.schema import memory_bytes

    loaded = load_suite(suite)
    variants = plan(loaded, only)
    tracking = _trackers([*loaded.suite.trackers, *trackers])
    if executor not in ("local", "ray"):
        raise HarnessError(f"executor {executor!r}: write local or ray")
    if executor == "ray" and (jobs or gpus or gpu_memory):
        raise HarnessError("--jobs, --gpus and --gpu-memory are for --executor local; Ray places each variant where the "
                           "cluster has room")
    if executor == "local" and (address or retries):
        raise HarnessError("--address and --retries are for --executor ray")
    try:
        memory = memory_bytes(gpu_memory) if gpu_memory else None
    except ValueError as err:
        raise HarnessError(f"--gpu-memory: {err}") from None
    gpu_list = (parse_gpus(gpus) if isinstance(gpus, str) else [str(g) for g in gpus]) if gpus else None
    pool = plan_pool(gpu_list, jobs, memory=memory)
    if executor == "local" and not isinstance(pool, CpuPool):
        wide = [v for v in variants if v.world_size > len(pool.gpus)]
        if wide:
            raise HarnessError(f"{len(wide)} variant(s) ask for more GPUs than this run has ({len(pool.gpus)}): "
                               + ", ".join(f"{v.name} (resources.gpus: {v.world_size})" for v in wide))
    results_dir = Path(results)
    out = results_dir / loaded.suite.name
    if out.is_dir():
        sweep_temp_files(out)  # what a run killed mid-write left
    write_suite_copy(out, suite_text(loaded))
    timeout = timeout or loaded.suite.timeout
    notes = []
    pinned, cpu_slots = loaded.suite.threads, pool.slots if isinstance(pool, CpuPool) else []
    if pinned and cpu_slots and cpu_slots[0].threads and pinned * len(cpu_slots) > (os.cpu_count() or 1):
        notes.append(f"the suite pins threads: {pinned} per variant (for numbers that repeat), so {len(cpu_slots)} at "
                     f"once ask for {pinned * len(cpu_slots)} threads on {os.cpu_count()} cores; each will run slower")

    def outcomes():
        if executor == "ray":
            from harness.run import ray_executor

            running = ray_executor.run(variants, results_dir, force=force, address=address, retries=retries,
                                       timeout=timeout, wait=wait)
        else:
            from harness.run import local

            running = local.run(variants, results_dir, force=force, pool=pool, timeout=timeout, wait=wait)
        return _tracked(running, tracking, results_dir) if tracking else running

    where = f"ray ({address or 'a local instance'})" if executor == "ray" else pool.describe()
    return Session(loaded, variants, out, where, executor == "local" and pool.alone, notes, outcomes)


def _trackers(names: list[str]) -> list[str]:
    """The trackers to log to, each once; HarnessError for an unknown one or one whose package
    is missing (a suite's own were checked when it loaded; `--tracker` names come here)."""
    from harness.track import TRACKERS, missing_package
    from harness.track.trackers import unknown_message

    chosen = list(dict.fromkeys(names))
    for name in chosen:
        if name not in TRACKERS:
            raise HarnessError(f"--tracker: {unknown_message(name)}")
        if why := missing_package(name):
            raise HarnessError(f"--tracker {name}: {why}")
    return chosen


def _tracked(outcomes: Iterator[Any], names: list[str], results_dir: Path) -> Iterator[Any]:
    """The executor's outcomes, each variant that ran (ok or failed) logged to the trackers
    from its record before its outcome is passed on (its `tracked` says where); a skipped
    one is not logged again."""
    from harness.run.outcome import Outcome
    from harness.track import log_variant

    for outcome in outcomes:
        if isinstance(outcome, Outcome) and outcome.state in ("ok", "failed") and outcome.record is not None:
            outcome.tracked = log_variant(names, outcome.record, results_dir)
        yield outcome


def run(suite: str | Path | Mapping[str, Any] | LoadedSuite, results: str | Path = "results", *,
        leaderboard: str | Path | None = None, **options: Any) -> list[Record]:
    """Train and evaluate every variant (skipping those with an ok record), compare them, and
    return their records in plan order, comparisons filled in.

    `options` are `start`'s: only, force, executor ("local" or "ray"), address, retries, jobs,
    gpus, gpu_memory, timeout, wait, trackers. `leaderboard` is a path for the HTML page (none by
    default; `harness.report.render` builds one any time). A failed variant's record says
    why (`record.status`, `record.error`); the others still run.
    """
    from harness.run.outcome import Outcome

    session = start(suite, results, **options)
    for note in session.notes:
        log.warning(note)
    log.info("suite %s: %d variant(s) on %s -> %s/", session.loaded.suite.name, len(session.variants), session.where,
             session.suite_dir)
    for outcome in session.outcomes():
        if isinstance(outcome, Outcome) and outcome.state not in ("started", "waiting"):
            log.info("%-7s %s%s", outcome.state, outcome.variant.label(),
                     f": {outcome.record.error}" if outcome.state == "failed" and outcome.record else "")
    if session.suite_dir.is_dir():
        from harness.analysis.compare import compare_suite

        compare_suite(session.suite_dir)  # the paired tests, written into the records
        if leaderboard is not None:
            log.info("leaderboard: %s", write_leaderboard(session.suite_dir, leaderboard))
    return _records(session)


def write_leaderboard(suite_dir: Path, path: str | Path | None = None) -> Path:
    """The suite's HTML leaderboard, from its records alone; written to `path`, by default
    leaderboards/<suite>.html. Returns where it went."""
    from harness.records.store import write_text_atomic
    from harness.report import build_table, render

    table = build_table(suite_dir)
    out = Path(path) if path else Path("leaderboards") / f"{table.suite}.html"
    write_text_atomic(out, render([table], "html"))
    return out


def _records(session: Session) -> list[Record]:
    from harness.records.store import read_record, variant_dir

    out = []
    for v in session.variants:
        path = variant_dir(session.suite_dir.parent, v.suite, v.id) / "record.json"
        if path.is_file():
            out.append(read_record(path))
    return out


def load_records(results: str | Path) -> list[Record]:
    """The newest record of each variant (ok or failed) in a results/<suite> folder, or in
    every suite of a results folder; unreadable records are logged and skipped."""
    from harness.records.newest import newest
    from harness.records.store import readable_records, suite_dirs

    out: list[Record] = []
    for suite_dir in suite_dirs(Path(results)):
        notes: list[str] = []
        found, _stale = newest(readable_records(suite_dir, notes))
        for note in notes:
            log.warning(note)
        out += [record for _path, record in found]
    return out


def load_results(results: str | Path) -> pandas.DataFrame:
    """The leaderboard as a pandas DataFrame: one row per variant (and seed) and metric, the
    columns of `harness report --format csv` (suite, model, name, method, seed, variant_id,
    status, eval, metric, value, ci_low, ci_high, n, higher_is_better, vs_baseline_delta,
    vs_baseline_ci_low, vs_baseline_ci_high, vs_baseline_p, vs_best_p, best, tied, error).

    `results` is a results/<suite> folder or a results folder holding several suites. Costs
    are rows with eval "cost" (metric train_seconds, peak_memory_gb...), forgetting rows
    have eval "forgetting/EVAL".
    """
    from harness.records.store import suite_dirs
    from harness.report import build_table
    from harness.report.tabular import frame

    tables = [build_table(d) for d in suite_dirs(Path(results))]
    for table in tables:
        for note in table.unread:
            log.warning(note)
    return frame(tables)
