"""Metrics: text metrics (text.py) with bootstrap intervals (stats.py).

Every metric is a function (predictions, references, *, confidence, seed) -> MetricResult,
registered in harness/catalog.py with its help, direction and scale; `compute` looks one
up by name. To add a metric: write the function in text.py (or a new module for another
task kind) and add its line to the catalog. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

from harness.metrics.stats import CONFIDENCE, MetricResult

__all__ = ["CONFIDENCE", "MetricResult", "compute"]


def compute(name: str, predictions: list[str], references: list[list[str]], **kw: Any) -> MetricResult:
    """Score `predictions` with the registered metric `name`; `kw` goes to the metric (confidence, seed)."""
    from harness.registry import METRICS

    return METRICS.load(name)(predictions, references, **kw)
