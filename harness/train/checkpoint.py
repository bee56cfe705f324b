"""Checkpoints of a long training run, and resuming from one exactly.

With `checkpoint_every: N` a stage saves, after every N of its steps, what the rest of the run
depends on: the parameters trained so far (every stage's, with their requires_grad flags, which
gradual unfreezing changes), the optimizer's and the scheduler's state (and GradScaler's under
fp16), the torch, CUDA, Python and NumPy random states, the position in the data stream (the
steps done: the stream is a function of the seed, so the loop draws that many batches again and
drops them, which costs no compute), the stage's partial TrainResult (loss curve, tokens,
events, validation curve, the best check with its weights) and the results of the stages
finished before. A rerun of the variant (same folder: its id hashes its spec) finds the
newest checkpoint and continues from it; in fp32 on a CPU with a fixed thread count its loss
curve equals an uninterrupted run's exactly (tests/train/test_checkpoint.py).

Layout: DIR/checkpoints/step-NNNNNNNN/{checkpoint.json, state.pt}, step counted across stages.
A save writes into a hidden .partial-* folder and renames it into place, and only then
removes the older one, so a kill at any moment leaves the previous checkpoint or the new one
whole, never half of one; leftover partial folders are removed. checkpoint.json holds a
fingerprint of what training computes (the variant's id, its resolved stages, the world size,
the torch and harness versions): a checkpoint made under other settings is never loaded.

Not resumable, so refused before training: a seconds budget (the steps it reaches depend on
the clock; suite/schema.py says so at load time) and several processes (resources.gpus > 1:
each rank has its own random state; the worker refuses it). The worker removes the folder once
the variant's ok record is written, unless keep_checkpoints is set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

import harness
from harness.errors import HarnessError
from harness.suite.schema import CHECKPOINT_SETTINGS
from harness.suite.variant import Variant

log = logging.getLogger(__name__)

FOLDER = "checkpoints"  # under the variant's folder
STATE, META = "state.pt", "checkpoint.json"
PARTIAL = ".partial-"  # a save in progress (or cut short by a kill): never loaded
RESUMED = "resumed from checkpoint"  # the event a resumed stage records at the step it resumed after
_NAME = re.compile(r"^step-(\d+)$")


def fingerprint(variant_id: str, stages: list[dict[str, Any]], world: int) -> str:
    """What a checkpoint must have been made under to be loaded: the variant, its stages as
    resolved for this run (steps from a budget, the rate a search chose), the processes, and
    the code that computes the steps."""
    resolved = [{k: v for k, v in st.items() if k not in CHECKPOINT_SETTINGS} for st in stages]
    body = {"variant": variant_id, "stages": resolved, "world": world, "torch": torch.__version__,
            "harness": harness.__version__}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def for_variant(variant: Variant, directory: Path | None, world: int) -> Checkpoints | None:
    """The variant's checkpoints when a stage of it sets checkpoint_every (and it has a folder)."""
    if directory is None or not any(st.checkpoint_every for st in variant.stages):
        return None
    stages = [st.model_dump(mode="json") for st in variant.stages]
    return Checkpoints(directory, fingerprint(variant.id, stages, world))


def remove(directory: Path) -> None:
    """Remove a variant's checkpoints (its record is written: nothing is left to resume)."""
    shutil.rmtree(Path(directory) / FOLDER, ignore_errors=True)


@dataclasses.dataclass
class Resumed:
    step: int  # the checkpoint's, counted across stages
    done: int  # steps of its stage done before it
    rng: dict[str, Any]  # the random states, for restore_rng once nothing else will draw from them


class Checkpoints:
    """One variant's checkpoints: the newest complete one found on start, and saving new ones.

    The worker makes one per variant and tells it each stage as it begins (`stage`) and ends
    (`finish`); the loop asks `resume` to restore a checkpoint of its stage and calls `save`.
    """

    def __init__(self, directory: Path, fingerprint: str):
        self.folder, self.fingerprint = Path(directory) / FOLDER, fingerprint
        self.stage = 0  # the stage training now
        self.state = self._newest()  # until the stage it was made in restores it
        self.found_stage = self.state["stage"] if self.state is not None else None
        # Results of the stages finished before this one (dataclasses.asdict of a TrainResult),
        # and the names of every parameter any stage has trained so far.
        self.finished: list[dict[str, Any]] = list(self.state["finished"]) if self.state else []
        self.trained: set[str] = set(self.state["weights"]) if self.state else set()

    def done_before(self, stage: int) -> dict[str, Any] | None:
        """The result of `stage` when the checkpoint found was made in a later stage."""
        return self.finished[stage] if self.found_stage is not None and stage < self.found_stage else None

    def resume(self, model, optimizer, scheduler, scaler, result, best, reference=None) -> Resumed | None:
        """Restore the checkpoint found when it was made in the stage training now (see
        `restore`); None when there is none."""
        state = self.state
        if state is None or state["stage"] != self.stage:
            return None
        self.state = None  # its tensors are copied into the model: not kept beside them
        try:
            done = restore(state, model, optimizer, scheduler, scaler, result, best, reference)
        except (KeyError, ValueError, RuntimeError) as err:  # written by other code than this
            raise HarnessError(f"the checkpoint in {self.folder} does not fit this model ({err}); delete that "
                               "folder to train from the start") from None
        return Resumed(state["step"], done, state["rng"])

    def finish(self, result) -> None:
        """A stage ended: its result goes into every later checkpoint."""
        if len(self.finished) <= self.stage:
            self.finished.append(dataclasses.asdict(result))

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write one checkpoint atomically (see the module docstring); its folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"step-{step:08d}"
        partial = self.folder / f"{PARTIAL}{final.name}-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        state = {**state, "stage": self.stage, "finished": self.finished}
        _write(partial / STATE, lambda f: torch.save(state, f))
        meta = {"fingerprint": self.fingerprint, "step": step, "stage": self.stage}
        _write(partial / META, lambda f: f.write(json.dumps(meta).encode()))
        _sync(partial)
        _publish(partial, final)
        for other in self.folder.iterdir():  # the new one is in place: the older ones can go
            if other != final:
                shutil.rmtree(other, ignore_errors=True)
        return final

    def _newest(self) -> dict[str, Any] | None:
        """The newest complete checkpoint made under this fingerprint, loaded; None if none."""
        if not self.folder.is_dir():
            return None
        for partial in self.folder.glob(f"{PARTIAL}*"):  # a save a kill cut short; this variant's lock is held
            shutil.rmtree(partial, ignore_errors=True)
        found = sorted((int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NAME.match(p.name)))
        for step, path in reversed(found):
            try:
                meta = json.loads((path / META).read_text(encoding="utf-8"))
                if meta.get("fingerprint") != self.fingerprint:
                    log.warning("checkpoint %s was made under other settings (or another harness or torch "
                                "version); it is not loaded and training starts afresh", path)
                    return None
                state = torch.load(path / STATE, map_location="cpu", weights_only=True)
            except (OSError, ValueError, RuntimeError, EOFError) as err:  # a damaged disk, not a kill
                log.warning("checkpoint %s cannot be read (%s); trying an older one", path, err)
                continue
            return {**state, "step": step}
        return None


def capture(model, optimizer, scheduler, scaler, trained: set[str], done: int, result, best,
            reference=None) -> dict[str, Any]:
    """What `restore` needs to continue after the `done`-th step of this stage; `trained` (the
    names of the parameters earlier stages trained) gains this stage's. A preference stage's
    `reference` (harness/train/preference.py) that copied the weights the stage started from
    keeps that copy here: a rerun starts from other weights and could not take it again."""
    named = dict(model.named_parameters())
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    trained |= {n for n, p in named.items() if id(p) in in_optimizer}
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                           "numpy": _numpy_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "done": done,
        "weights": {n: named[n].detach().to("cpu", copy=True) for n in sorted(trained)},
        "requires_grad": sorted(n for n, p in named.items() if p.requires_grad),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "rng": rng,
        "result": dataclasses.asdict(result),
        "best": {"step": best.step, "value": best.value, "saved": best.saved} if best is not None else None,
        "reference": [t.detach().to("cpu", copy=True) for t in reference.saved] if reference is not None else None,
    }


def restore(state: dict[str, Any], model, optimizer, scheduler, scaler, result, best, reference=None) -> int:
    """Put the model, optimizer, scheduler, result, best check and a preference stage's
    reference copy back as `capture` found them; the steps of this stage already done. The
    random states are restore_rng's, last."""
    named = dict(model.named_parameters())
    missing = sorted(set(state["weights"]) - set(named))
    if missing:
        raise RuntimeError(f"the checkpoint holds parameters this model lacks: {missing[:3]}")
    flags = set(state["requires_grad"])
    with torch.no_grad():
        for name, p in named.items():
            if name in state["weights"]:
                p.copy_(state["weights"][name].to(p.device))
            p.requires_grad_(name in flags)
    # The optimizer's state carries each group's current rate; the scheduler's, its step count.
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    for f in dataclasses.fields(result):
        setattr(result, f.name, state["result"][f.name])
    if best is not None and state["best"] is not None:
        best.step, best.value, best.saved = state["best"]["step"], state["best"]["value"], state["best"]["saved"]
    if reference is not None and state.get("reference"):
        if len(state["reference"]) != len(reference.saved):
            raise ValueError(f"{len(state['reference'])} reference tensors for {len(reference.saved)} trained")
        with torch.no_grad():
            for saved, kept in zip(reference.saved, state["reference"]):
                saved.copy_(kept.to(saved.device))
    return int(state["done"])


def restore_rng(rng: dict[str, Any]) -> None:
    """The random states as they were after the checkpoint's step (dropout draws from them)."""
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    random.setstate(rng["python"])
    name, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))


def _numpy_state() -> tuple:
    # As plain Python values: torch.load(weights_only=True) reads no NumPy arrays.
    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # a tuple, as legacy=True asks
    return str(name), np.asarray(keys).tolist(), int(pos), int(has_gauss), float(gauss)


def _write(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _sync(folder: Path) -> None:
    """fsync a folder, so the names in it (a file made, a rename) survive a power cut too."""
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder; a kill is still safe
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(partial: Path, final: Path) -> None:
    """The one rename that makes a checkpoint count."""
    if final.exists():  # the same step saved under other settings: set aside, removed with the older ones
        os.replace(final, final.with_name(f"{PARTIAL}stale-{final.name}"))
    os.replace(partial, final)
    _sync(final.parent)
