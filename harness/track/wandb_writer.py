"""Weights & Biases: one variant's run, written with wandb.

Offline unless asked: the mode is $WANDB_MODE when set, else online only when this machine
is logged in (WANDB_API_KEY, or `wandb login`'s entry in ~/.netrc), else offline, so nothing
goes to the network unless the user set it up. An offline run is a folder that `wandb sync
FOLDER` uploads later.

Where: $WANDB_DIR when set, else the results folder; wandb keeps its runs in a `wandb`
folder there (RESULTS/wandb/offline-run-DATE-ID/run-ID.wandb).

What: the project and the group are the suite, the run is named for the variant ("lora-r8
(seed 0)"), its job type is the method and it is tagged with the method; the config is the
flattened spec; the curves are the history, merged by step (W&B's steps never go back); the
finals (scores with their intervals, costs) are the summary. A failed variant's run exits
with code 1. Console capture, system metrics, git and code saving are off: the record already
holds what ran, and a run is logged after the fact.
"""

from __future__ import annotations

import importlib
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.track.content import RunContent

DEFAULT_HOST = "https://api.wandb.ai"
# Settings that keep a logged-after-the-fact run quiet and small; those the installed wandb
# does not know are left out.
QUIET = {"silent": True, "console": "off", "x_disable_stats": True, "x_disable_meta": True,
         "x_disable_machine_info": True, "disable_git": True, "save_code": False, "disable_job_creation": True,
         "x_save_requirements": False}


def mode() -> str:
    return os.environ.get("WANDB_MODE") or ("online" if logged_in() else "offline")


def logged_in() -> bool:
    """Whether wandb has an API key here without asking for one: WANDB_API_KEY, or a netrc entry for its host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST).hostname
    try:
        entry = netrc.netrc(os.environ.get("NETRC")).authenticators(host or "")
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def directory(results_dir: Path) -> Path:
    return Path(os.environ["WANDB_DIR"]) if os.environ.get("WANDB_DIR") else results_dir


def write(content: RunContent, results_dir: Path) -> str:
    wandb = importlib.import_module("wandb")
    where = directory(results_dir)
    # Made here so a folder that cannot be written fails this tracker (wandb would fall back to
    # a temporary folder and the run would be lost at the next reboot).
    (where / "wandb").mkdir(parents=True, exist_ok=True)
    chosen = mode()
    if chosen == "online" and not logged_in():  # wandb would ask for a key at the terminal and the run would wait
        raise RuntimeError("WANDB_MODE=online, but this machine is not logged in to W&B: run `wandb login` or set "
                           "WANDB_API_KEY (or leave WANDB_MODE unset to log offline)")
    run = wandb.init(project=content.suite, group=content.suite, name=content.label, job_type=content.method,
                     tags=[content.method] + ([] if content.status == "ok" else ["failed"]), config=dict(content.params),
                     dir=str(where), mode=chosen, settings=_settings(wandb, chosen), reinit="create_new")
    folder, exit_code = Path(run.dir).parent, 1
    try:
        for step, row in content.rows():
            run.log(row, step=step)
        run.summary.update(content.finals)
        exit_code = 0 if content.status == "ok" else 1
    finally:
        run.finish(exit_code=exit_code)
    return f"{folder} ({chosen})"


def _settings(wandb: Any, chosen: str) -> Any:
    known = getattr(wandb.Settings, "model_fields", {})
    return wandb.Settings(mode=chosen, **{k: v for k, v in QUIET.items() if k in known})
