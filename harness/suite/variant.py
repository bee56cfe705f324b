"""The plan's unit of work: one Variant (a model, a method with its params, a seed, its
resolved train stages and evals), handed from the planner to the executors and the worker.

A type only, like the schema it is made of, so every stage may import it; the planner
(harness/suite/plan.py) is what makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.suite.schema import DistributedSpec, DriftProbeSpec, EvalSpec, ResourcesSpec, SearchSpec, TemplateSpec, TrainSpec


class Shots(BaseModel):
    """An in-context baseline's examples: k rows drawn with `seed` from the training data,
    rendered with the training template (harness/evaluate/shots.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    k: int
    data: str
    split: str
    columns: dict[str, str] = {}
    template: TemplateSpec | list[TemplateSpec]  # several: each row in the wording training drew for it
    seed: int


class Variant(BaseModel):
    """One unit of work: a model, a method with its params, a seed, its train and evals."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    suite: str
    name: str
    model: str
    method: str
    params: dict[str, Any]
    seed: int
    stages: list[TrainSpec]  # resolved, trained in order; none for the baseline
    evals: list[EvalSpec]  # templates resolved to {prompt, completion}
    fingerprints: dict[str, str]  # data reference + split -> content hash
    threads: int | None = None
    eval_dtype: str = "fp32"
    drift_probe: DriftProbeSpec | None = None
    shots: Shots | None = None  # an in-context baseline's examples (part of the id when set)
    search: SearchSpec | None = None  # the learning-rate search it starts with (part of the id when set)
    load_dtype: str = "auto"  # part of the id unless auto (then the hardware chooses, as for the device)
    trust_remote_code: bool = False  # run the model's own Python code (part of the id when on)
    # The hub commit a hub model's revision (or default branch) named at plan time (part of
    # the id when found); the record's spec keeps it. Hub data is pinned in its references.
    model_commit: str | None = None
    resources: ResourcesSpec = ResourcesSpec()  # scheduling: not part of the id
    distributed: DistributedSpec | None = None  # how it spreads over resources.gpus: not part of the id
    base_dir: str = "."  # where relative paths resolve; not part of the id

    @property
    def world_size(self) -> int:
        """Processes training this variant: one per GPU it asks for."""
        return self.resources.gpus

    def label(self) -> str:
        return f"{self.name} (seed {self.seed})" if self.method != "baseline" else self.name


class Adapter(BaseModel):
    """A saved peft adapter scored as a variant of its own (`harness eval-adapters`): its
    folder, its adapter_config.json, the hash of its content and the variant it is scored as
    (planned by harness/suite/adapters.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    folder: Path
    config: dict[str, Any]
    sha256: str  # of the config (provenance fields left out) and the weights
    variant: Variant
