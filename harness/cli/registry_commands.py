"""`harness ls` and `harness models`: what can be named in a suite, and the built-in models'
caches."""

from __future__ import annotations

import time

import click

from harness.cli.common import UserError, user_errors


@click.command(name="ls")
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
