"""`harness eval-adapters`: saved adapters of one base scored on a suite's evals with the base
loaded once, a record per adapter (and the base alone), then the leaderboard."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import load, user_errors
from harness.cli.suite_commands import report_run


@click.command("eval-adapters")
@click.argument("suite", type=click.Path(dir_okay=False))
@click.argument("adapter_dirs", metavar="ADAPTER_DIR...", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for records: RESULTS/<suite>/<variant_id>/record.json.")
@click.option("--leaderboard", "leaderboard", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where the HTML leaderboard goes.  [default: leaderboards/<suite>.html]")
@click.option("--separate", is_flag=True,
              help="Load the base afresh for each adapter (and for the baseline) instead of once: the way to compare with.")
@click.option("--force", is_flag=True, help="Score again adapters that already have an ok record.")
@user_errors
def eval_adapters(suite: str, adapter_dirs: tuple[str, ...], results_dir: str, leaderboard: str | None, separate: bool,
                  force: bool) -> None:
    """Score saved adapters of SUITE's model on its evals, the base model loaded once.

    Each ADAPTER_DIR is a peft adapter folder (adapter_config.json and
    adapter_model.safetensors, as save_pretrained writes it; `harness run` writes one in
    <record dir>/weights with `train: {save: true}`) of a type that loads beside others
    (LoRA, DoRA, IA3, LoKr, VeRA...). The base is wrapped with every adapter at once and each
    is made active in turn, then scored by the same code as `harness run`; the base alone,
    adapters disabled, is the baseline. SUITE gives the model and the evals only: its
    methods, training and few-shot baselines are not run (its train block's template and chat
    still shape the eval prompts, as in `harness run`). Each adapter gets a record under
    RESULTS/<suite>/, its id hashing the folder's content and the evals, read by `harness
    report` and `harness check` like any other. Exit 0 if every one is ok, 1 if any failed,
    2 for bad input (a folder that is not an adapter, or made for another model).
    """
    from harness.records.store import write_suite_copy
    from harness.run import adapters
    from harness.suite.adapters import plan_adapters

    loaded = load(suite)
    plan = plan_adapters(loaded, [Path(d) for d in adapter_dirs], adapters.peft_problem)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    out = Path(results_dir) / loaded.suite.name
    write_suite_copy(out, Path(suite).read_text(encoding="utf-8"))
    how = "a fresh base load each (--separate)" if separate else "one base load"
    click.echo(f"suite {loaded.suite.name}: {len(plan.adapters)} adapter(s) and the base alone on {loaded.suite.models[0]}, "
               f"{how} -> {out}/")
    report_run(lambda: adapters.run(plan.baseline, plan.adapters, Path(results_dir), force=force, separate=separate), out,
               len(plan.adapters) + 1, True, leaderboard)

