"""How the training loop runs: in this one process, or as one rank of several under accelerate.

The loop (harness/train/loop.py) talks to one of two objects with the same methods, so it
reads the same either way:

* `Single`: this process alone.
* `Distributed`: one of `world` processes started by torchrun (harness/run/launch.py), each
  on its own GPU, or its own CPU cores over gloo. accelerate.Accelerator wraps the model
  (DDP, FSDP or DeepSpeed, from the variant's `distributed` block; any key besides
  `strategy` goes to accelerate's plugin as is) and syncs the gradients.

Both autocast in the stage's precision, and under fp16 scale the loss with torch's GradScaler
(GPUs without bf16).

Every rank draws the same batches (same seed) and trains on its contiguous share of each.
The loss each rank back-propagates is its mean loss weighted by its share of the micro-batch's
loss items (labelled tokens, or examples), times the world size, which DDP's gradient average
divides out again: the gradient is that of the mean over the whole micro-batch, as in one
process, however the tokens fall between ranks. So the loss curve of `gpus: 2` equals the
one-process curve at the same batch size, up to float summation order (tests/train check it).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from harness.errors import HarnessError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class _Precision:
    """Autocast in the stage's precision, and torch's GradScaler under fp16, the same in one
    process and in several: accelerate is not given the precision, since it would wrap the
    model's forward in autocast for good, and evaluation after training would run in it too."""

    def __init__(self, device: torch.device, precision: str):
        self.device, self.precision = device, precision
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self):
        return torch.autocast(self.device.type, dtype=DTYPES.get(self.precision, torch.float32),
                              enabled=self.precision in DTYPES)


class Single(_Precision):
    """Training in this process alone."""

    rank, world, is_main = 0, 1, True

    def prepare(self, model, optimizer):
        return model, optimizer

    def share(self, examples: list[dict]) -> list[dict]:
        return examples

    def total(self, values: list[float]) -> list[float]:
        return values

    def no_sync(self, model):
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer, model, max_grad_norm: float | None) -> None:
        if max_grad_norm is not None:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        self.scaler.step(optimizer)  # skipped when fp16 gradients overflowed
        self.scaler.update()


class Distributed(_Precision):
    """This process as one rank of a torchrun group, through accelerate."""

    def __init__(self, device: torch.device, precision: str, strategy: str, options: dict[str, Any],
                 micro_batch: int, grad_accum: int):
        from accelerate import Accelerator

        super().__init__(device, precision)
        kwargs: dict[str, Any] = {}
        if strategy == "fsdp":
            if device.type != "cuda":
                raise HarnessError("distributed.strategy fsdp needs GPUs: accelerate shards with FSDP on accelerators "
                                   "only; on CPUs use strategy ddp")
            from accelerate.utils import FullyShardedDataParallelPlugin

            kwargs["fsdp_plugin"] = FullyShardedDataParallelPlugin(**{"fsdp_version": 2, **options})
        elif strategy == "deepspeed":
            try:
                import deepspeed  # noqa: F401  (accelerate needs it; say so before it fails deeper)
            except ImportError:
                raise HarnessError("distributed.strategy deepspeed needs DeepSpeed: pip install deepspeed") from None
            if grad_accum > 1 or precision == "fp16":
                raise HarnessError("with distributed.strategy deepspeed, set gradient accumulation and fp16 in DeepSpeed's "
                                   "own config (train.grad_accum: 1, train.precision: bf16 or fp32)")
            from accelerate.utils import DeepSpeedPlugin

            plugin = DeepSpeedPlugin(**options)
            # No dataloader goes through accelerate, so it cannot fill in DeepSpeed's batch size itself.
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = micro_batch
            kwargs["deepspeed_plugin"] = plugin
        elif options:
            raise HarnessError(f"distributed: strategy ddp takes no further keys, got {sorted(options)}")
        self.accelerator = Accelerator(cpu=device.type != "cuda", mixed_precision="no", **kwargs)
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.is_main = self.accelerator.is_main_process

    def prepare(self, model, optimizer):
        return self.accelerator.prepare(model, optimizer)

    def share(self, examples: list[dict]) -> list[dict]:
        """This rank's contiguous share of a batch; shares differ in size by one at most."""
        if len(examples) < self.world:
            raise HarnessError(f"a batch of {len(examples)} cannot be shared by {self.world} processes; "
                               f"set train.batch_size to {self.world} or more")
        base, extra = divmod(len(examples), self.world)
        start = self.rank * base + min(self.rank, extra)
        return examples[start : start + base + (self.rank < extra)]

    def total(self, values: list[float]) -> list[float]:
        """Each value summed over every rank."""
        summed = self.accelerator.reduce(torch.tensor(values, dtype=torch.float64, device=self.accelerator.device), "sum")
        return [float(v) for v in summed]

    def no_sync(self, model):
        return self.accelerator.no_sync(model)

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(self.scaler.scale(loss))

    def step(self, optimizer, model, max_grad_norm: float | None) -> None:
        if max_grad_norm is not None:
            self.scaler.unscale_(optimizer)
            self.accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        self.scaler.step(optimizer)
        self.scaler.update()


def for_this_process(device: torch.device, precision: str, distributed: dict[str, Any] | None,
                     batch_size: int = 1, grad_accum: int = 1) -> Single | Distributed:
    """Distributed when torchrun started this process as one of several, else Single."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Single(device, precision)
    options = dict(distributed or {})
    return Distributed(device, precision, options.pop("strategy", "ddp"), options, -(-batch_size // world), grad_accum)
