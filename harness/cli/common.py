"""What every command shares: user errors as one line and exit code 2, and loading a suite
with its notes printed."""

from __future__ import annotations

import functools

import click

from harness.errors import HarnessError


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


def load(suite_path: str, overrides: tuple[str, ...] = ()):
    from harness.suite.loading import load_suite

    loaded = load_suite(suite_path, overrides=overrides)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    return loaded


def set_option(fn):
    """`--set key.path=value`, repeatable: overrides of the suite file (harness/suite/overrides.py)."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                        help="Override a suite setting before it is validated, e.g. --set train.steps=5 "
                             "--set methods[0].params.r=16 (repeatable; a YAML value).")(fn)
