"""Saved adapters of one base scored as they are served: the base loaded once, every adapter
held beside it, each made active in turn (`harness eval-adapters`).

The base is loaded as the worker loads it (worker.load_model), wrapped with the first
adapter (peft's PeftModel.from_pretrained), the others added with load_adapter; for each,
set_adapter, then worker.evaluate_all, the code `harness run` scores every variant with, so
the scores and predictions are those of any run. The base alone is scored inside
disable_adapter() as the baseline. One PeftModel holds adapters of one peft type, so
adapters of another type get a wrapper of their own once the previous one is unloaded
(still one load of the base). `separate` is the peer to compare with: a fresh base for
each adapter and for the baseline.

Everything runs in this process (sharing the model is the point), yielding run/outcome.py's
Outcomes as the executors do; each variant's folder is claimed under its lock and an ok
record is kept (skipped) unless `force`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from harness import models
from harness.errors import HarnessError
from harness.evaluate import drift
from harness.methods.base import count_parameters
from harness.records.schema import Cost
from harness.records.store import write_record, write_text_atomic
from harness.registry import METHODS
from harness.run.environment import describe, peak_memory, reset_peak_memory
from harness.run.outcome import Outcome, claim, new_record, now
from harness.run.worker import evaluate_all, load_dtype_of, load_model, resolve_chat, template_spread, this_device, variant_labels
from harness.suite.variant import Adapter, Variant
from harness.train.optimizers import dtype_name

log = logging.getLogger(__name__)


def peft_problem(peft_type: str) -> str | None:
    """Why a peft type cannot be scored here, or None: it must be one of peft's tuners (LoRA,
    DoRA, IA3, LoKr, VeRA...), which load beside each other with load_adapter; virtual
    tokens and prompts (prompt tuning, prefix tuning) change the input, not the layers."""
    import peft
    from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
    from peft.tuners.tuners_utils import BaseTuner

    tuners = {getattr(k, "value", k): v for k, v in PEFT_TYPE_TO_TUNER_MAPPING.items()}
    if peft_type not in tuners:
        return f"peft_type {peft_type!r} is not one peft {peft.__version__} knows"
    tuner = tuners[peft_type]
    if not (isinstance(tuner, type) and issubclass(tuner, BaseTuner)):
        return (f"peft_type {peft_type} is not an adapter of the model's layers (it adds virtual tokens or a prompt): "
                "eval-adapters scores adapters that load side by side (LoRA, DoRA, IA3, LoKr, VeRA...); score it with "
                "harness run")
    return None


@dataclass
class Job:
    """A claimed variant: where its record goes, and its adapter (None: the base alone)."""

    variant: Variant
    directory: Path
    adapter: Adapter | None


@dataclass
class Setting:
    """How every load of the base in this run is made: as the worker makes it."""

    variant: Variant
    device: torch.device
    dtype: torch.dtype
    family: str
    labels: tuple[str, ...] | None

    def load(self):
        """(model, tokenizer, seconds taken)."""
        start = time.perf_counter()
        method = METHODS.load("baseline")
        model, tokenizer = load_model(self.variant, method, method.parse({}), self.device, self.dtype, self.family,
                                      self.labels)
        return model.eval(), tokenizer, round(time.perf_counter() - start, 3)

    def samples(self, model, tokenizer):
        """The drift probe's samples, drawn from the base as loaded (None without a probe)."""
        if self.variant.drift_probe and self.family == "causal":
            return drift.draw(model, tokenizer, self.variant.drift_probe)
        return None


def run(baseline: Variant, adapters: list[Adapter], results_dir: Path, force: bool = False,
        separate: bool = False) -> Iterator[Outcome]:
    """The baseline (the base alone), then each adapter: an Outcome as each starts and as
    each ends (or is skipped)."""
    threads = torch.get_num_threads()
    with contextlib.ExitStack() as locks:
        jobs = []
        for variant, adapter in [(baseline, None), *((a.variant, a) for a in adapters)]:
            claimed = claim(variant, results_dir, force)
            if isinstance(claimed, Outcome):
                yield claimed
                continue
            directory, lock = claimed
            locks.enter_context(lock)
            jobs.append(Job(variant, directory, adapter))
        if not jobs:
            return
        if baseline.threads:
            torch.set_num_threads(baseline.threads)
        try:
            device = this_device()
            family = models.family(baseline.model, Path(baseline.base_dir), baseline.trust_remote_code, baseline.model_commit)
            setting = Setting(baseline, device, load_dtype_of(baseline, device), family,
                              variant_labels(baseline, Path(baseline.base_dir), family))
            yield from (one_load_each(setting, jobs) if separate else one_shared_load(setting, jobs, adapters))
        finally:
            torch.set_num_threads(threads)  # the caller's process goes on (tests, notebooks)


def one_shared_load(setting: Setting, jobs: list[Job], adapters: list[Adapter]) -> Iterator[Outcome]:
    model, tokenizer, seconds = setting.load()
    samples = setting.samples(model, tokenizer)
    _, total = count_parameters(model)
    info = {"shared_base": True, "base_loads": 1, "base_load_seconds": seconds,
            "adapters": [a.variant.name for a in adapters]}
    alone = next((job for job in jobs if job.adapter is None), None)
    groups: dict[str, list[Job]] = {}  # by peft type: one PeftModel holds adapters of one type
    for job in jobs:
        if job.adapter is not None:
            groups.setdefault(job.adapter.config["peft_type"], []).append(job)
    if not groups and alone is not None:
        yield from score(alone, model, tokenizer, setting, samples, {**info, "scored": "the base as loaded"}, 0, total)
    for members in groups.values():
        wrapped = None
        for i, job in enumerate(members):
            wrapped = attach(wrapped if wrapped is not None else model, job, slot(i))
        assert wrapped is not None
        if alone is not None:
            with wrapped.disable_adapter():
                yield from score(alone, wrapped, tokenizer, setting, samples, {**info, "scored": "disable_adapter()"}, 0, total)
            alone = None
        for i, job in enumerate(members):
            wrapped.set_adapter(slot(i))
            size = adapter_size(wrapped, slot(i))
            yield from score(job, wrapped, tokenizer, setting, samples, info, size, total + size)
        model = wrapped.unload()  # the base as loaded, for the next peft type's wrapper


def one_load_each(setting: Setting, jobs: list[Job]) -> Iterator[Outcome]:
    for job in jobs:
        model, tokenizer, seconds = setting.load()
        samples = setting.samples(model, tokenizer)
        _, total = count_parameters(model)
        size = 0
        if job.adapter is not None:
            model = attach(model, job, slot(0))
            size = adapter_size(model, slot(0))
        info = {"shared_base": False, "base_loads": len(jobs), "base_load_seconds": seconds}
        yield from score(job, model, tokenizer, setting, samples, info, size, total + size, seconds)
        del model


def slot(i: int) -> str:
    """The name an adapter has inside the PeftModel (a module name: no dots)."""
    return f"adapter{i}"


def attach(model, job: Job, name: str):
    """The base wrapped with the job's adapter (a PeftModel already: the adapter added to it)."""
    from peft import PeftModel

    assert job.adapter is not None
    folder = str(job.adapter.folder)
    try:
        if isinstance(model, PeftModel):
            model.load_adapter(folder, adapter_name=name)
            return model
        return PeftModel.from_pretrained(model, folder, adapter_name=name).eval()
    except (ValueError, KeyError, RuntimeError, OSError) as err:
        raise HarnessError(f"{job.adapter.folder}: peft could not load it onto {job.variant.model} ({err}); is this "
                           "model its base?") from None


def adapter_size(model, name: str) -> int:
    """Parameters of one adapter in a PeftModel (its name is a segment of theirs)."""
    return sum(p.numel() for n, p in model.named_parameters() if name in n.split("."))


def score(job: Job, model, tokenizer, setting: Setting, samples, info: dict[str, Any], size: int, total: int,
          load_seconds: float = 0.0) -> Iterator[Outcome]:
    """Every eval of the job's variant on the model as it stands, its record written."""
    yield Outcome(job.variant, "started", directory=job.directory)
    record = new_record(job.variant, started_at=now())
    start = time.perf_counter()
    try:
        torch.manual_seed(job.variant.seed)
        variant = resolve_chat(job.variant, tokenizer)
        record.spec = {**record.spec, "evals": [e.model_dump(mode="json") for e in variant.evals]}
        record.env = {**describe(setting.device, Path(variant.base_dir)), "threads": torch.get_num_threads()}
        record.dtypes = {"weights": dtype_name(setting.dtype), "compute": variant.eval_dtype}
        record.method_info = {"evaluated_on": info}
        if job.adapter is not None:
            record.method_info["adapter"] = {"folder": str(job.adapter.folder.resolve()), "sha256": job.adapter.sha256,
                                             "config": job.adapter.config}
        reset_peak_memory(setting.device)
        evaluate_all(variant, model, tokenizer, record, job.directory, setting.device)
        record.templates = template_spread(variant, record)
        if samples is not None:
            record.drift = drift.drift(model, tokenizer, samples)
        cost = Cost(trainable_params=size, total_params=total, eval_seconds=round(time.perf_counter() - start, 3))
        cost.peak_memory_bytes, cost.peak_memory_source = peak_memory(setting.device)
        record.cost = cost
        record.status = "ok"
    except Exception as err:  # the record says what failed; the other adapters are still scored
        record.error = f"{type(err).__name__}: {err}"
        write_text_atomic(job.directory / "traceback.txt", traceback.format_exc())
        log.error("%s failed: %s (traceback in %s)", job.variant.label(), record.error, job.directory / "traceback.txt")
    record.finished_at = now()
    write_record(job.directory, record)
    yield Outcome(job.variant, record.status, record, seconds=time.perf_counter() - start + load_seconds,
                  directory=job.directory)
