"""The baseline file's format as types: what `harness check` trusts in a baseline, checked
before it is used.

A baseline file is a snapshot written down (harness/gate/snapshot.py); check.py does
arithmetic on its values and pairs its per-example evidence with the new results' by
position. A file edited by hand, merged badly or damaged is therefore read through these
models, and the first problem is reported with its place in the file
(variants[3].evals.d2t.metrics.bleu.references[5]) instead of failing inside a paired
test. Keys besides these are kept as they are; to read a new one in check.py, type it here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.suite.schema import CheckSpec

# Strict: "0.5" must not pass for a number that check.py subtracts, nor true for a seed.
_FORMAT = ConfigDict(extra="allow", strict=True)


class MetricEvidence(BaseModel):
    """One metric of one eval: the value, its interval, and per `kind` what a paired test needs."""

    model_config = _FORMAT
    value: float
    ci_low: float
    ci_high: float
    n: int
    higher_is_better: bool | None = None
    settings: dict[str, Any] | None = None
    kind: Literal["binary", "mean", "corpus", "unpaired"]
    scores: list[float] | None = None  # binary and mean
    predictions: list[str] | None = None  # corpus
    references: list[Annotated[list[str], Field(min_length=1)]] | None = None  # corpus: each example's references

    @model_validator(mode="after")
    def _evidence(self):
        if self.kind in ("binary", "mean") and not self.scores:
            raise ValueError(f"a {self.kind} metric carries its per-example scores (a non-empty list)")
        if self.kind == "binary" and any(s not in (0.0, 1.0) for s in self.scores or []):
            raise ValueError("a binary metric's scores are each 0 or 1")
        if self.kind == "corpus" and (not self.predictions or self.references is None
                                      or len(self.predictions) != len(self.references)):
            raise ValueError("a corpus metric carries predictions and references, one of each per example")
        return self

    def examples(self) -> int | None:
        """How many examples its evidence covers; None without any (unpaired)."""
        evidence = self.scores if self.kind in ("binary", "mean") else self.predictions if self.kind == "corpus" else None
        return None if evidence is None else len(evidence)


class EvalEvidence(BaseModel):
    model_config = _FORMAT
    data: str | None = None
    fingerprint: str | None = None
    ids: list[str | int] | None = None  # the examples, in the order of every metric's evidence
    metrics: dict[str, MetricEvidence] = {}

    @model_validator(mode="after")
    def _one_entry_per_example(self):
        for name, metric in self.metrics.items():
            count = metric.examples()
            if count is not None and (self.ids is None or len(self.ids) != count):
                raise ValueError(f"metric {name!r} has evidence for {count} examples but ids lists "
                                 f"{'none' if self.ids is None else len(self.ids)}")
        return self


class VariantEvidence(BaseModel):
    model_config = _FORMAT
    name: str
    model: str
    seed: int
    evals: dict[str, EvalEvidence]


class BaselineFile(BaseModel):
    model_config = _FORMAT
    format: str
    format_version: int
    suite: str
    check: CheckSpec | None = None  # the suite's check: block when the baseline was taken
    variants: list[VariantEvidence]
