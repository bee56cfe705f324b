"""`harness score` and `harness report`: re-scoring saved predictions and building
leaderboards, from the records alone (no model, no torch)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import UserError, user_errors
from harness.errors import HarnessError, short_repr


@click.command()
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


@click.command()
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
    if fmt != "md" or out:  # Markdown on the terminal lists them in its notes; a file or CSV and JSON may not
        for table in tables:
            for note in table.unread:
                click.echo(f"note: {note}", err=True)
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


def _report_dirs(source: Path, results_dir: Path) -> list[Path]:
    from harness.records.store import suite_dirs
    from harness.suite.loading import read_yaml

    if source.is_dir():
        return suite_dirs(source)
    name = read_yaml(source).get("name")
    if not isinstance(name, str) or not name:
        raise HarnessError(f"{source}: a suite file names its suite (name: ...); none found")
    folder = results_dir / name
    try:
        found = any(folder.glob("*/record.json"))
    except OSError as err:  # a name the system cannot look up (longer than it allows): no suite was run under it
        raise HarnessError(f"{source}: suite name {short_repr(name)} names no folder under {results_dir} "
                           f"({err.strerror})") from None
    if not found:
        raise HarnessError(f"{folder}: no records of suite {name!r}; run `harness run {source}` first "
                           "or point --results at the folder holding them")
    return [folder]
