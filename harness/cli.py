"""The `harness` command: run, validate, report, score, baseline, check, ls, models.

The only module that prints. Errors a user can cause (HarnessError) become one message
and exit code 2, never a traceback. Heavy imports happen inside the commands that need
them, so `harness --help` and `harness ls` answer at once.
"""

from __future__ import annotations

import fnmatch
import functools
import sys
import time
from pathlib import Path

import click

from harness import __version__
from harness.errors import HarnessError
from harness.logs import setup_logging


class UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def user_errors(fn):
    """HarnessError -> exit 2 with its message, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as err:
            raise UserError(str(err)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Compare fine-tuning methods: train each variant of a suite, evaluate it, record it.

    A suite is one YAML file pairing a model, tuning methods and datasets with metrics.
    Start with `harness validate SUITE`, then `harness run SUITE`.
    """
    setup_logging()


def _load(suite_path: str):
    from harness.suite.loading import load_suite

    loaded = load_suite(suite_path)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    return loaded


@main.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@user_errors
def validate(suite: str) -> None:
    """Check a suite without running anything: keys, types, names, files, template fields.

    Every problem is printed with its YAML path; the exit code is 2 if there is any.
    """
    from harness.suite.plan import plan

    loaded = _load(suite)
    variants = plan(loaded)
    tuned = sum(v.method != "baseline" for v in variants)
    click.echo(f"{suite}: ok — suite {loaded.suite.name!r}, {len(variants)} variants "
               f"({len(variants) - tuned} baseline, {tuned} tuned), {len(loaded.suite.evals)} eval(s)")


@main.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for records: RESULTS/<suite>/<variant_id>/record.json.")
@click.option("--only", "only", default=None, metavar="GLOB", help="Run only variants whose name matches (e.g. 'lora*').")
@click.option("--force", is_flag=True, help="Recompute variants that already have an ok record.")
@click.option("--leaderboard", "leaderboard", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where the HTML leaderboard goes when the run ends.  [default: leaderboards/<suite>.html]")
@user_errors
def run(suite: str, results_dir: str, only: str | None, force: bool, leaderboard: str | None) -> None:
    """Train and evaluate every variant of SUITE, writing one record per variant.

    Variants with an ok record are skipped (ids hash the resolved spec and the data, so a
    change anywhere reruns what it touches). When all have run, the paired comparisons are
    computed and the HTML leaderboard is written. Exit 0 if every variant is ok, 1 if any
    failed (the others still run), 2 for bad input.
    """
    from harness.records.store import write_suite_copy
    from harness.run import local
    from harness.suite.plan import plan

    loaded = _load(suite)
    variants = plan(loaded)
    if only:
        variants = [v for v in variants if fnmatch.fnmatch(v.name, only) or fnmatch.fnmatch(v.id, only)]
        if not variants:
            raise UserError(f"--only {only!r} matches no variant of {suite}")
    out = Path(results_dir) / loaded.suite.name
    write_suite_copy(out, Path(suite).read_text(encoding="utf-8"))
    click.echo(f"suite {loaded.suite.name}: {len(variants)} variant(s) -> {out}/")

    counts = {"ok": 0, "failed": 0, "skipped": 0, "busy": 0}
    start = time.perf_counter()
    try:
        _report(local.run(variants, Path(results_dir), force=force), len(variants), counts)
    except KeyboardInterrupt:
        click.echo(f"interrupted: finished records are kept in {out}/; run again to resume", err=True)
        sys.exit(130)
    took = time.perf_counter() - start
    click.echo(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped"
               + (f", {counts['busy']} busy" if counts["busy"] else "") + f" in {took:.1f}s; records in {out}/")
    click.echo(_compare(out))
    _write_leaderboard(out, Path(leaderboard) if leaderboard else None)
    sys.exit(1 if counts["failed"] or counts["busy"] else 0)


def _write_leaderboard(suite_dir: Path, path: Path | None) -> None:
    """The page at the end of a run; records are already safe, so a problem here is only reported."""
    from harness.records.store import write_text_atomic
    from harness.report import build_table, render

    try:
        table = build_table(suite_dir)
        path = path or Path("leaderboards") / f"{table.suite}.html"
        write_text_atomic(path, render([table], "html"))
    except (HarnessError, OSError) as err:
        click.echo(f"leaderboard not written: {err}", err=True)
        return
    click.echo(f"leaderboard: {path}")


def _report(outcomes, total: int, counts: dict[str, int]) -> None:
    """One line as each variant starts (with the time the rest should take, from the
    variants run so far), one summary line as it ends."""
    position, took = 0, []
    for outcome in outcomes:
        v = outcome.variant
        if outcome.state == "started":
            position += 1
            left = total - sum(counts.values())  # this one included; later skips make it an overestimate
            eta = f"; about {_duration(sum(took) / len(took) * left)} left" if took else ""
            click.echo(f"[{position}/{total}] {v.name} (method {v.method}, seed {v.seed}){eta} ...")
            continue
        if outcome.state in ("ok", "failed"):
            took.append(outcome.seconds)
        counts[outcome.state] += 1
        if outcome.state == "skipped":
            click.echo(f"  skip  {v.label()}: ok record exists ({outcome.directory}); --force recomputes")
        elif outcome.state == "busy":
            click.echo(f"  busy  {v.label()}: another run holds {outcome.directory}")
        elif outcome.state == "ok":
            click.echo(f"  ok    {v.label()}  {_summary(outcome.record)}  {outcome.seconds:.1f}s")
        else:
            click.echo(f"  FAIL  {v.label()}: {outcome.record.error}  ({outcome.directory})")


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


@main.command()
@click.argument("results", type=click.Path(exists=True, file_okay=False))
@click.option("--metrics", "metrics", default=None, metavar="M1,M2",
              help="Compute only these metrics: recompute those an eval has, add those it lacks (to evals of "
                   "their kind); others are left as they are. Default: recompute every stored metric.")
@user_errors
def score(results: str, metrics: str | None) -> None:
    """Re-score saved predictions (no model loaded) and redo the paired comparisons.

    RESULTS is a results/<suite> folder or a results folder holding several suites. Every
    ok record's metrics are recomputed from predictions/<eval>.jsonl, per-example scores
    written back into the rows; then each suite's comparisons are recomputed.
    """
    from harness.analysis.rescore import rescore

    names = None if metrics is None else [m.strip() for m in metrics.split(",") if m.strip()]
    for done in rescore(Path(results), names):
        click.echo(f"{done.suite_dir}: re-scored {done.records} record(s): {done.recomputed} score(s) computed, "
                   f"{done.added} of them new")
        for note in done.notes + (done.comparison.notes if done.comparison else []):
            click.echo(f"note: {note}", err=True)
        if done.comparison is not None:
            click.echo(f"  {done.comparison.line()}")


@main.command()
@click.argument("source", metavar="RESULTS_DIR_OR_SUITE", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["html", "md", "csv", "json"]), default="html", show_default=True,
              help="html: the page (charts, examples, provenance); md: tables for CI summaries and pull requests; "
                   "csv: one row per variant and metric; json: the whole table.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write here. Default: html to leaderboards/<suite>.html, the other formats to stdout.")
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Where the records are, when SOURCE is a suite file (RESULTS/<suite name>/).")
@click.option("--examples", default=20, show_default=True, type=click.IntRange(min=0),
              help="html: examples per eval in the per-example view (those the variants disagree on most).")
@user_errors
def report(source: str, fmt: str, out: str | None, results_dir: str, examples: int) -> None:
    """Build the leaderboard of a suite from its records alone (no model, no torch).

    RESULTS_DIR_OR_SUITE is a results/<suite> folder, a results folder holding several
    suites, or a suite YAML file (its records are looked up under --results). Seeds fold into
    mean ± std; the best value of each column is marked, and values not significantly
    different from it (paired tests from `harness run` or `harness score`) are marked as tied.
    """
    from harness.records.store import write_text_atomic
    from harness.report import build_table, render

    tables = [build_table(d) for d in _report_dirs(Path(source), Path(results_dir))]
    if out and len(tables) > 1:
        raise UserError(f"{source} holds {len(tables)} suites; give one results/<suite> folder with --out")
    if fmt == "html":
        for table in tables:
            path = Path(out) if out else Path("leaderboards") / f"{table.suite}.html"
            text = render([table], "html", examples)
            write_text_atomic(path, text)
            click.echo(f"{path}  ({len(text.encode()) / 1e3:,.0f} kB, {len(table.rows)} variants)")
        return
    text = render(tables, fmt)
    if out:
        write_text_atomic(Path(out), text)
        click.echo(f"{out}  ({len(tables[0].rows)} variants)", err=True)
    else:
        click.echo(text, nl=False)


@main.command(name="baseline")
@click.argument("results", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The baseline file to write (JSON; commit it beside the suite).")
@user_errors
def baseline_cmd(results: str, out: str) -> None:
    """Write a baseline of one suite's results, for `harness check` to compare later runs with.

    RESULTS is a results/<suite> folder. Per variant (name, model, seed), eval and metric the
    file holds the value, its interval, the per-example scores (predictions and references
    for corpus metrics such as BLEU), the data's fingerprint and the metric's settings, and
    the suite's check: block: it is self-contained.
    """
    from harness.gate import baseline

    notes: list[str] = []
    data = baseline.build(Path(results), notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    path = baseline.write(Path(out), data)
    metrics = sum(len(e["metrics"]) for v in data["variants"] for e in v["evals"].values())
    click.echo(f"{path}: baseline of suite {data['suite']!r}, {len(data['variants'])} variants, {metrics} metrics "
               f"({path.stat().st_size / 1e3:,.0f} kB)")


@main.command(name="check")
@click.argument("results", type=click.Path(exists=True, file_okay=False))
@click.option("--baseline", "baseline_file", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="A file written by `harness baseline`.")
@click.option("--tolerance", "tolerances", multiple=True, metavar="METRIC=VALUE",
              help="How far a metric may drop before it can fail: absolute (rouge1=0.02) or relative to the "
                   "baseline (bleu=5%). METRIC may be EVAL/METRIC or * (every metric). Repeatable; overrides "
                   "the suite's check: block. Default 0.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Significance level before the Holm correction.  [default: the suite's check.alpha, else 0.05]")
@click.option("--allow-missing", is_flag=True,
              help="Do not fail on variants, evals or metrics that are missing or not comparable (other data, "
                   "examples or metric settings); they are still reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON instead of Markdown.")
@user_errors
def check_cmd(results: str, baseline_file: str, tolerances: tuple[str, ...], alpha: float | None,
              allow_missing: bool, as_json: bool) -> None:
    """Gate RESULTS on a baseline: exit 0 when every metric holds, 1 when one regressed, 2 for bad input.

    RESULTS is a results/<suite> folder. Variants match the baseline's by name, model and
    seed. A metric fails when it dropped by more than its tolerance and the drop is
    significant on the paired per-example scores (McNemar or paired bootstrap), Holm-corrected
    over all comparisons. A variant missing now, or an eval run on other data, other
    examples or other metric settings, is "not comparable" and fails unless --allow-missing.
    The Markdown table goes to stdout and, under GitHub Actions, to the job summary.
    """
    import json

    from harness.gate import baseline, output
    from harness.gate.check import check, parse_tolerances
    from harness.gate.snapshot import snapshot

    base = baseline.read(Path(baseline_file))
    extra = parse_tolerances(tolerances)
    suite_dir = baseline.one_suite(Path(results))
    block = baseline.suite_check_block(suite_dir) or base.get("check") or {}
    notes: list[str] = []
    current = snapshot(suite_dir, notes)
    if not current["variants"]:
        raise UserError(f"{suite_dir}: no ok records to check")
    if current["suite"] != base.get("suite"):
        raise UserError(f"{suite_dir} holds suite {current['suite']!r} but {baseline_file} is a baseline of {base.get('suite')!r}")
    result = check(base, current, {**block.get("tolerance", {}), **extra}, alpha or block.get("alpha", 0.05))
    result.notes = notes + _version_note(base, current)
    if as_json:
        click.echo(json.dumps(result.to_json(allow_missing), indent=2))
    else:
        text = output.markdown(result, allow_missing)
        click.echo(text, nl=False)
        output.to_job_summary(text)
    sys.exit(1 if result.failed(allow_missing) else 0)


def _version_note(base: dict, current: dict) -> list[str]:
    now = sorted({str(v.get("harness_version")) for v in current["variants"]})
    then = sorted({str(v.get("harness_version")) for v in base["variants"]})
    return [] if now == then else [f"harness {', '.join(then)} made the baseline, {', '.join(now)} the results"]


def _report_dirs(source: Path, results_dir: Path) -> list[Path]:
    from harness.records.store import suite_dirs
    from harness.suite.loading import read_yaml

    if source.is_dir():
        return suite_dirs(source)
    name = read_yaml(source).get("name")
    if not isinstance(name, str) or not name:
        raise HarnessError(f"{source}: a suite file names its suite (name: ...); none found")
    folder = results_dir / name
    if not any(folder.glob("*/record.json")):
        raise HarnessError(f"{folder}: no records of suite {name!r}; run `harness run {source}` first "
                           "or point --results at the folder holding them")
    return [folder]


@main.command(name="ls")
@click.argument("kind", type=click.Choice(["methods", "metrics", "eval-kinds", "tasks", "models"]))
@user_errors
def ls(kind: str) -> None:
    """List the registered methods, metrics, eval kinds, tasks or models, one line of help
    each (a plugin's entries name their package)."""
    from harness.registry import EVAL_KINDS, METHODS, METRICS, MODELS, TASKS

    registry = {"methods": METHODS, "metrics": METRICS, "eval-kinds": EVAL_KINDS, "tasks": TASKS, "models": MODELS}[kind]
    width = max(len(n) for n in registry.names())
    for entry in registry.entries():
        origin = "" if entry.origin == "harness" else f"  [plugin {entry.origin}]"
        click.echo(f"{entry.name:<{width}}  {entry.help}{origin}")
        if kind == "methods":
            click.echo(f"{'':<{width}}    {_method_params(METHODS.load(entry.name))}")


def _method_params(method) -> str:
    """'params: r=8, lora_alpha=16, ...; train defaults: learning_rate=0.0002' for `ls methods`."""
    fields = method.params_model.model_fields
    params = ", ".join(f"{name}={f.default!r}" if not f.is_required() else f"{name} (required)" for name, f in fields.items())
    if method.params_model.model_config.get("extra") == "allow":
        params += ", and any field of the library's config"
    text = f"params: {params or 'none'}"
    if method.train_defaults:
        text += "; train defaults: " + ", ".join(f"{k}={v}" for k, v in method.train_defaults.items())
    return text


@main.group()
def models() -> None:
    """Fetch and locate built-in models that are built once and cached (smollm2-135m-instruct)."""


def _builtin_model(name: str):
    from harness.registry import MODELS

    if name not in MODELS:
        raise UserError(MODELS.unknown_message(name))
    return MODELS.get(name)


def _model_hook(entry, hook: str):
    """The function a model's registry entry names for `hook` (pull, cache), or None."""
    import importlib

    target = entry.meta.get(hook)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@models.command()
@click.argument("name")
@click.option("--verify", is_flag=True, help="Also check every cached file against its sha256 (reads it all).")
@user_errors
def pull(name: str, verify: bool) -> None:
    """Install what built-in model NAME needs and fill its cache; print where and how big."""
    from harness.models.cache import folder_size

    entry = _builtin_model(name)
    fill = _model_hook(entry, "pull")
    if fill is None:
        click.echo(f"{name}: built in-process on every load; nothing to pull")
        return
    start = time.perf_counter()
    folder = fill(verify=verify)
    files = [p for p in folder.iterdir() if p.is_file()]
    click.echo(f"{name}: cache at {folder} ({folder_size(folder) / 1e6:.1f} MB, {len(files)} files"
               + (", sha256 verified" if verify else "") + f") in {time.perf_counter() - start:.1f}s")


@models.command(name="path")
@click.argument("name")
@user_errors
def model_path(name: str) -> None:
    """Print the cache folder of built-in model NAME (whether or not it is filled yet)."""
    locate = _model_hook(_builtin_model(name), "cache")
    if locate is None:
        raise UserError(f"model {name!r} is built in-process and has no cache folder")
    click.echo(str(locate()))


if __name__ == "__main__":
    main()
