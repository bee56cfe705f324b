"""Experiment trackers: each finished variant logged, from its record, to TensorBoard, MLflow
or Weights & Biases, as the suite's `trackers:` (or `harness run --tracker`) names them.

Torch-free, and each tracker's library is imported only when that tracker logs a variant.
What is where:
- trackers.py: the table of trackers (package, writer, default location, how to view);
- content.py: what is logged of a record (params, curves, final scores and costs), the same
  for every tracker;
- runs.py: `log_variant(names, record, results_dir)`, the entry point the run loop calls
  for each variant that ran; a tracker's failure is a warning, never the run's;
- tensorboard_writer.py, mlflow_writer.py, wandb_writer.py: one writer each.

Adding a tracker: its name to TrackerName in harness/suite/schema.py, a row in
trackers.py, and a NAME_writer.py with `write(content, results_dir) -> str` that imports its
library inside the function; then a test that reads back what it wrote with the tracker's
own reader (tests/track/).
"""

from __future__ import annotations

from harness.track.runs import Tracked, log_variant
from harness.track.trackers import TRACKERS, missing_package

__all__ = ["TRACKERS", "Tracked", "log_variant", "missing_package"]
