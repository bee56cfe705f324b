"""`harness baseline` and `harness check`: the regression gate for CI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.common import UserError, user_errors


@click.command(name="baseline")
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


@click.command(name="check")
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
