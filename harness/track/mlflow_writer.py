"""MLflow: one variant's run, written with MlflowClient (mlflow-skinny suffices: no database,
no server).

Where: the tracking URI in $MLFLOW_TRACKING_URI when set (a server, a database, a folder),
else the file store RESULTS/mlruns. MLflow 3 keeps its file store in maintenance mode and
refuses to open one unless MLFLOW_ALLOW_FILE_STORE=true: the writer sets that around its own
calls (a database store needs sqlalchemy, which mlflow-skinny does not bring), and `mlflow ui`
needs it too: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri RESULTS/mlruns.

What: the experiment is the suite (created on first use), the run is named for the variant
("lora-r8 (seed 0)") and tagged variant_id, suite, method, model, seed and status (a failed
variant's error too); params are the flattened spec; curves are metric histories at their
steps; finals are metrics at step 0. Start and end times are the record's, and the run ends
FINISHED, or FAILED for a failed variant.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.track.content import RunContent

SUBFOLDER = "mlruns"
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
# MLflow's own limits on one log_batch call (mlflow/utils/validation.py).
PARAMS_PER_BATCH, METRICS_PER_BATCH = 100, 1000
MAX_TAG_CHARS = 8000
_BAD_KEY = re.compile(r"[^/\w.\- :]")  # what MLflow refuses in a param or metric name


def tracking_uri(results_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or (results_dir / SUBFOLDER).resolve().as_uri()


def write(content: RunContent, results_dir: Path) -> str:
    tracking = importlib.import_module("mlflow.tracking")
    entities = importlib.import_module("mlflow.entities")
    uri = tracking_uri(results_dir)
    with _file_store_allowed(uri):
        client = tracking.MlflowClient(tracking_uri=uri)
        experiment = _experiment(client, content.suite)
        tags = {"variant_id": content.variant_id, "suite": content.suite, "name": content.name, "method": content.method,
                "model": content.model, "seed": str(content.seed), "status": content.status,
                **({"error": content.error[:MAX_TAG_CHARS]} if content.error else {})}
        run = client.create_run(experiment, start_time=_ms(content.started), tags=tags, run_name=content.label)
        run_id, status = run.info.run_id, "FAILED"
        try:
            stamp = _ms(content.finished)
            # Names that differ only in characters MLflow refuses would collide: the first is kept.
            named: dict[str, str] = {}
            for k, v in content.params.items():
                named.setdefault(key(k), str(v))
            params = [entities.Param(k, v) for k, v in named.items()]
            metrics = [entities.Metric(key(tag), value, stamp, step)
                       for tag, points in content.curves.items() for step, value in points]
            metrics += [entities.Metric(key(tag), value, stamp, 0) for tag, value in content.finals.items()]
            for i in range(0, len(params), PARAMS_PER_BATCH):
                client.log_batch(run_id, params=params[i:i + PARAMS_PER_BATCH])
            for i in range(0, len(metrics), METRICS_PER_BATCH):
                client.log_batch(run_id, metrics=metrics[i:i + METRICS_PER_BATCH])
            status = "FINISHED" if content.status == "ok" else "FAILED"
        finally:
            client.set_terminated(run_id, status=status, end_time=_ms(content.finished))
    return f"{uri} (experiment {content.suite}, run {run_id})"


def key(name: str) -> str:
    """A param or metric name MLflow accepts: other characters (an lm-eval metric's comma) as '_'."""
    return _BAD_KEY.sub("_", name)


def _experiment(client: Any, name: str) -> str:
    """The suite's experiment id, created on first use (another run may create it meanwhile)."""
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except Exception:  # noqa: BLE001  created by someone else since: read it back, else say why
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise RuntimeError(f"the MLflow experiment {name!r} was deleted; restore it (mlflow experiments restore) or "
                           "remove it for good (mlflow gc) to log this suite again")
    return found.experiment_id


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """MLFLOW_ALLOW_FILE_STORE=true while a file store is in use (unless already set either way)."""
    if urlparse(uri).scheme not in ("", "file") or ALLOW_FILE_STORE in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE, None)


def _ms(seconds: float | None) -> int:
    return int(1000 * (seconds if seconds is not None else time.time()))
