"""The table of experiment trackers: for each name a suite may list under `trackers:`, the
package it writes with, the module holding its writer, where it writes by default and how to
look at what it wrote.

Read by `harness validate` (harness/suite/checks.py asks whether each named tracker's package
is installed, through importlib.util.find_spec: nothing is imported) and by the run loop
(harness/track/runs.py). The names a suite may write are the schema's (TRACKERS in
harness/suite/schema.py); a test keeps the two equal. Adding a tracker: its name to the
schema's TrackerName, a row here, and a module beside this one with a `write(content,
results_dir) -> str` (harness/track/runs.py says what it receives).
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass

from harness.errors import HarnessError

# The extra that installs every tracker's package (pyproject.toml's [trackers]).
INSTALL_ALL = "pip install 'harness[trackers]'"


@dataclass(frozen=True)
class Tracker:
    name: str
    module: str  # the import name of the package it writes with: what find_spec looks for
    package: str  # what pip installs to provide it
    writer: str  # "module:function", imported only when a variant is logged
    where: str  # where it writes by default, RESULTS being the run's results folder
    view: str  # how to look at what it wrote


TRACKERS: dict[str, Tracker] = {
    t.name: t for t in (
        Tracker("tensorboard", "tensorboardX", "tensorboardX", "harness.track.tensorboard_writer:write",
                "RESULTS/tensorboard/SUITE/VARIANT_ID/ (event files)",
                "tensorboard --logdir RESULTS/tensorboard (pip install tensorboard)"),
        Tracker("mlflow", "mlflow", "mlflow-skinny", "harness.track.mlflow_writer:write",
                "$MLFLOW_TRACKING_URI, else the file store RESULTS/mlruns (experiment SUITE)",
                "MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri RESULTS/mlruns (pip install mlflow)"),
        Tracker("wandb", "wandb", "wandb", "harness.track.wandb_writer:write",
                "$WANDB_DIR, else RESULTS/wandb/ (offline unless logged in or WANDB_MODE says otherwise)",
                "wandb sync RESULTS/wandb/offline-run-* (uploads; project SUITE)"),
    )
}


def unknown_message(name: str) -> str:
    close = difflib.get_close_matches(name, list(TRACKERS), n=1, cutoff=0.6)
    return (f"unknown tracker {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
            + f" (known: {', '.join(TRACKERS)})")


def chosen(names: list[str] | tuple[str, ...]) -> list[Tracker]:
    """The trackers named, each once, in the order first named; HarnessError for a name that
    is not one (a suite's names were checked when it loaded; `--tracker` and the Python API
    come here unchecked)."""
    out: list[Tracker] = []
    for name in names:
        if name not in TRACKERS:
            raise HarnessError(unknown_message(str(name)))
        if TRACKERS[name] not in out:
            out.append(TRACKERS[name])
    return out


def missing_package(name: str) -> str | None:
    """Why a known tracker cannot write here (its package is not installed), with the fix;
    None when it can. Asks importlib.util.find_spec, which imports nothing."""
    tracker = TRACKERS[name]
    try:
        found = importlib.util.find_spec(tracker.module) is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        found = False
    if found:
        return None
    return (f"{name} writes with the {tracker.package} package, which is not installed: {INSTALL_ALL} "
            f"(every tracker) or pip install {tracker.package}")
