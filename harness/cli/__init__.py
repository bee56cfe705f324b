"""The `harness` command: run, validate, eval-adapters, export, report, score, baseline, check, ls, models.

The only package that prints. Errors a user can cause (HarnessError) become one message
and exit code 2, never a traceback. Heavy imports happen inside the commands that need
them, so `harness --help` and `harness ls` answer at once.
"""

from __future__ import annotations

import click

from harness import __version__
from harness.cli.adapter_commands import eval_adapters
from harness.cli.export_commands import export
from harness.cli.gate_commands import baseline_cmd, check_cmd
from harness.cli.registry_commands import ls, models
from harness.cli.report_commands import report, score
from harness.cli.suite_commands import run, validate
from harness.logs import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Compare fine-tuning methods: train each variant of a suite, evaluate it, record it.

    A suite is one YAML file pairing a model, tuning methods and datasets with metrics.
    Start with `harness validate SUITE`, then `harness run SUITE`.
    """
    setup_logging()


for _command in (validate, run, eval_adapters, export, score, report, baseline_cmd, check_cmd, ls, models):
    main.add_command(_command)
