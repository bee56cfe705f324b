"""`harness validate` and `harness run`: a suite checked, then trained and evaluated variant
by variant, with progress, one line per finished variant and the leaderboard at the end."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from harness.cli.common import load, set_option, user_errors
from harness.errors import HarnessError


@click.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@set_option
@user_errors
def validate(suite: str, overrides: tuple[str, ...] = ()) -> None:
    """Check a suite without running anything: keys, types, names, files, template fields.

    Every problem is printed with its YAML path; the exit code is 2 if there is any.
    """
    from harness.suite.plan import plan

    loaded = load(suite, overrides)
    variants = plan(loaded)
    tuned = sum(v.method != "baseline" for v in variants)
    click.echo(f"{suite}: ok — suite {loaded.suite.name!r}, {len(variants)} variants "
               f"({len(variants) - tuned} baseline, {tuned} tuned), {len(loaded.suite.evals)} eval(s)")


@click.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for records: RESULTS/<suite>/<variant_id>/record.json.")
@click.option("--only", "only", default=None, metavar="GLOB", help="Run only variants whose name matches (e.g. 'lora*').")
@click.option("--force", is_flag=True, help="Recompute variants that already have an ok record.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: child processes on this machine's GPUs or cores. ray: one Ray task per variant, on the "
                   "cluster at --address, else on a Ray instance started here (pip install 'harness[ray]').")
@click.option("--address", default=None, metavar="ADDR", help="ray: the cluster to join (e.g. ray://head:10001 or auto).")
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True,
              help="ray: times a variant's task is retried when its node is lost.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Variants at once, at most. Default: as many as fit each GPU's memory by their estimates (one per "
                   "GPU where memory or estimate is unknown), or one with every core on a CPU machine; on a CPU "
                   "machine N children share the cores (cores // N threads each).")
@click.option("--gpus", default=None, metavar="0,2", help="The GPUs to use (default: every visible one, "
              "CUDA_VISIBLE_DEVICES respected); each variant's child sees only its own.")
@click.option("--gpu-memory", "gpu_memory", default=None, metavar="SIZE",
              help="GPU memory to plan with per GPU, e.g. 40GiB (default: what nvidia-smi reports); variants share "
                   "a GPU while their memory estimates fit in it.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop a variant running longer than this and record it as failed.  [default: the suite's "
                   "timeout:, else none]")
@click.option("--leaderboard", "leaderboard", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where the HTML leaderboard goes when the run ends.  [default: leaderboards/<suite>.html]")
@click.option("--no-wait", "no_wait", is_flag=True,
              help="A variant another live run is computing is reported busy and left to it (exit 3), instead of "
                   "waited for.")
@click.option("--tracker", "trackers", multiple=True, type=click.Choice(["tensorboard", "mlflow", "wandb"]),
              help="Also log each variant that runs to this experiment tracker (repeatable; adds to the suite's "
                   "trackers:). pip install 'harness[trackers]'.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Say what would run and what would be skipped and why, with each variant's id, GPUs and memory "
                   "estimate; run, write and lock nothing.")
@set_option
@user_errors
def run(suite: str, results_dir: str, only: str | None, force: bool, executor: str, address: str | None, retries: int,
        jobs: int | None, gpus: str | None, gpu_memory: str | None, timeout: float | None, leaderboard: str | None,
        no_wait: bool, trackers: tuple[str, ...] = (), overrides: tuple[str, ...] = (), dry_run: bool = False) -> None:
    """Train and evaluate every variant of SUITE, writing one record per variant.

    Variants with an ok record are skipped (ids hash the resolved spec and the data, so a
    change anywhere reruns what it touches), so running again resumes an interrupted run.
    A variant another `harness run` on the same results folder is computing is waited for
    (or, with --no-wait, left to it). When all have run, the paired comparisons are computed
    and the HTML leaderboard is written.

    Exit 0 if every variant is ok, 1 if any failed (the others still run), 2 for bad input,
    3 if none failed but some were left to another run (--no-wait), 130 on Ctrl-C and 143 on
    SIGTERM (finished records are kept; running again resumes).
    """
    from harness import api

    loaded = load(suite, overrides)
    if dry_run:
        from harness.run.dry_run import describe, plan_run

        click.echo(describe(plan_run(api.plan(loaded, only), Path(results_dir), force)))
        return
    session = api.start(loaded, results_dir, only=only, force=force, executor=executor, address=address, retries=retries,
                        jobs=jobs, gpus=gpus, gpu_memory=gpu_memory, timeout=timeout, wait=not no_wait, trackers=trackers)
    for note in session.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"suite {loaded.suite.name}: {len(session.variants)} variant(s) on {session.where} -> {session.suite_dir}/")
    # one at a time shows the variant's own progress bar; several, a board of them
    report_run(session.outcomes, session.suite_dir, len(session.variants), session.alone, leaderboard)


def report_run(outcomes: Callable[[], Iterable[Any]], out: Path, total: int, alone: bool, leaderboard: str | None) -> None:
    """Each variant as it starts and ends, then the counts, the paired comparisons and the
    leaderboard; exits 0 (all ok or skipped), 1 (any failed), 3 (some left busy to another
    run), 130 (Ctrl-C) or 143 (SIGTERM)."""
    from harness.cli.signals import Terminated, terminate_raises

    counts = {"ok": 0, "failed": 0, "skipped": 0, "busy": 0}
    start = time.perf_counter()
    try:
        with terminate_raises():
            _report(outcomes(), total, counts, alone)
    except KeyboardInterrupt as stop:  # the executor's cleanup has stopped the children and freed their locks
        signal_name, code = ("SIGTERM", 143) if isinstance(stop, Terminated) else ("Ctrl-C", 130)
        click.echo(f"stopped ({signal_name}): {counts['ok']} finished in this run, every finished record kept in "
                   f"{out}/; to resume, run again: harness {' '.join(sys.argv[1:]) or 'run SUITE'}", err=True)
        sys.exit(code)
    took = time.perf_counter() - start
    click.echo(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped"
               + (f", {counts['busy']} busy (left to the run holding them; run again to finish)" if counts["busy"] else "")
               + f" in {took:.1f}s; records in {out}/")
    click.echo(_compare(out))
    _write_leaderboard(out, Path(leaderboard) if leaderboard else None)
    sys.exit(1 if counts["failed"] else 3 if counts["busy"] else 0)


def _write_leaderboard(suite_dir: Path, path: Path | None) -> None:
    """The page at the end of a run; records are already safe, so a problem here is only reported."""
    from harness.api import write_leaderboard

    try:
        written = write_leaderboard(suite_dir, path)
    except (HarnessError, OSError) as err:
        click.echo(f"leaderboard not written: {err}", err=True)
        return
    click.echo(f"leaderboard: {written}")


def _report(outcomes, total: int, counts: dict[str, int], alone: bool) -> None:
    """One line as each variant starts (where, and the time the suite has left), one summary
    line as it ends; with several at once, a live board of the running ones (progress.py)."""
    from harness.run.progress import Board

    position, left = 0, None
    with _BoardView(enabled=not alone) as view:
        for outcome in outcomes:
            if isinstance(outcome, Board):
                left = outcome.seconds_left()
                view.show(outcome, left)
                continue
            v = outcome.variant
            if outcome.state == "started":
                position += 1
                eta = f"; about {_duration(left)} left" if left is not None else ""
                on = f" on {outcome.slot}" if not alone and outcome.slot else ""
                view.echo(f"[{position}/{total}] {v.name} (method {v.method}, seed {v.seed}){on}{eta} ...")
                continue
            if outcome.state == "waiting":
                view.echo(f"  wait  {v.label()}: {outcome.holder} is computing it ({outcome.directory}); waiting for it "
                          "(--no-wait leaves it to that run)")
                continue
            counts[outcome.state] += 1
            if outcome.state == "skipped":
                view.echo(f"  skip  {v.label()}: ok record exists ({outcome.directory}); --force recomputes")
            elif outcome.state == "busy":
                view.echo(f"  busy  {v.label()}: {outcome.holder or 'another run'} is computing it ({outcome.directory}); "
                          "left to it")
            elif outcome.state == "ok":
                view.echo(f"  ok    {v.label()}  {_summary(outcome.record)}  {outcome.seconds:.1f}s")
            else:
                # a child's log (harness run), else the traceback (eval-adapters scores in its own process)
                log = outcome.directory / "log.txt"
                look = f"log: {log}" if log.is_file() else f"traceback: {outcome.directory / 'traceback.txt'}"
                view.echo(f"  FAIL  {v.label()}: {outcome.record.error}  ({look})")
            for tracked in outcome.tracked:
                view.echo(f"        {tracked.tracker}: {tracked.where}" if tracked.ok else
                          f"        {tracked.tracker}: not logged ({tracked.error})")


class _BoardView:
    """The running variants: redrawn in place on a terminal (rich), else a line every
    PLAIN_EVERY seconds, so a CI log shows progress without flooding."""

    PLAIN_EVERY = 60.0

    def __init__(self, enabled: bool):
        self.enabled, self.live, self.printed = enabled, None, 0.0

    def __enter__(self):
        if self.enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(stderr=True), transient=True, refresh_per_second=2)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def echo(self, line: str) -> None:
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(line)

    def show(self, board, left: float | None) -> None:
        tail = f"{len(board.running)} running, {board.queued} waiting" + (f", about {_duration(left)} left" if left else "")
        lines = [f"  {r.line()}" for r in board.running]
        if self.live is not None:
            from rich.text import Text

            self.live.update(Text("\n".join([*lines, tail])))
        elif self.enabled and time.monotonic() - self.printed >= self.PLAIN_EVERY:
            self.printed = time.monotonic()
            click.echo("\n".join([f"... {tail}", *lines]), err=True)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _summary(record) -> str:
    parts = []
    for ev, scores in record.metrics.items():
        parts.append(ev + " " + " ".join(f"{m}={s.value:.4g}" for m, s in scores.items()))
    cost = record.cost
    if cost.trainable_params is not None and cost.total_params:
        parts.append(f"trainable {cost.trainable_params:,} ({100 * cost.trainable_params / cost.total_params:.2f}%)")
    return "; ".join(parts)


def _compare(suite_dir: Path) -> str:
    """Paired comparisons of the suite's records (no model: seconds), as one line."""
    from harness.analysis.compare import compare_suite

    if not suite_dir.is_dir():
        return "no records to compare"
    return compare_suite(suite_dir).line()
