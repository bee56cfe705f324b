"""Where variants run on this machine: the pool that hands each child process its slot.

A slot is what a child is given through its environment: CUDA_VISIBLE_DEVICES (the GPUs it
may see, numbered from 0 in the child) and HARNESS_THREADS (its share of the CPU cores,
which the worker hands to torch.set_num_threads). The GPUs are those the parent may see:
CUDA_VISIBLE_DEVICES when it is set, else every GPU `nvidia-smi` lists, with its memory
(read without importing torch, so planning stays light).

With GPUs (GpuPool), a variant asks for resources.gpus of them and the GPU memory of its
estimate (harness/run/memory.py, or resources.gpu_memory), plus 10% for the allocator and
a CUDA context: it goes to the GPUs with the fewest variants that still have that much
memory unpromised, so several small variants share a large GPU while their estimates fit.
Without `--jobs`, a variant without an estimate (a hub model not on disk) or on a GPU of
unknown memory runs alone on its GPU, and so does one larger than any GPU; `--jobs N` puts
up to ceil(N/GPUs) on each GPU where there is nothing to check. `--gpus 0,2` picks GPUs (also on a machine without any, which tests use to
stand in for several); `--jobs N` caps the variants running at once, at most ceil(N/GPUs)
per GPU; `--gpu-memory 40GiB` says how much of each GPU to plan with.

Without GPUs (CpuPool): a single slot with every core, as a run one variant at a time
always had; `--jobs N` gives N slots of cores // N threads. A variant asking for several
GPUs runs there as that many CPU processes over gloo, sharing its slot's cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from harness.errors import HarnessError

CONTEXT_BYTES = 600 * 2**20  # a CUDA context and its workspace, per process, outside the allocator's count
ALLOCATOR_HEADROOM = 1.1  # the caching allocator reserves more than it hands out (fragmentation)


@dataclass(frozen=True)
class Slot:
    name: str  # shown in progress lines and kept in the record: "cuda:1", "cuda:0,1", "cpu", "cpu 2/3"
    env: dict[str, str] = field(default_factory=dict)  # set in the child's environment
    threads: int | None = None  # the child's torch threads; None: torch's default (every core)
    gpus: tuple[str, ...] = ()  # the GPUs it holds
    planned: tuple[int, ...] = ()  # bytes of GPU memory promised to it on each of them, in order


@dataclass
class Gpu:
    id: str
    memory: int | None = None  # bytes to plan with; None: unknown (one variant at a time)
    planned: int = 0  # bytes promised to the variants running on it
    jobs: int = 0  # variants running on it


class GpuPool:
    """Places variants on GPUs by count and memory (see the module docstring)."""

    def __init__(self, gpus: list[Gpu], jobs: int | None = None):
        self.gpus, self.jobs = gpus, jobs
        self.per_gpu = -(-jobs // len(gpus)) if jobs else None
        self.running = 0
        self.alone = jobs == 1  # one variant at a time: its output may go to the terminal

    def describe(self) -> str:
        known = [g.memory for g in self.gpus if g.memory]
        memory = f", packed by memory ({known[0] / 2**30:.0f} GiB each)" if len(known) == len(self.gpus) and self.jobs is None \
            else f", up to {self.jobs} at once" if self.jobs else ""
        return f"{len(self.gpus)} GPU(s) ({', '.join('cuda:' + g.id for g in self.gpus)}){memory}"

    def place(self, need: int | None, count: int = 1) -> Slot | None:
        """A slot on `count` GPUs with room for `need` bytes each, or None while there is none."""
        if count > len(self.gpus):
            raise HarnessError(f"a variant asks for {count} GPUs (resources.gpus) and this run has {len(self.gpus)}")
        if self.jobs is not None and self.running >= self.jobs:
            return None
        fits = [g for g in self.gpus if self._fits(g, need)]
        if len(fits) < count:
            return None
        chosen = sorted(fits, key=lambda g: (g.jobs, g.planned))[:count]
        planned = {g.id: self._claim(g, need) for g in chosen}
        self.running += 1
        ids = ",".join(g.id for g in chosen)
        return Slot(f"cuda:{ids}", {"CUDA_VISIBLE_DEVICES": ids}, gpus=tuple(planned), planned=tuple(planned.values()))

    def release(self, slot: Slot) -> None:
        promised = dict(zip(slot.gpus, slot.planned))
        for g in self.gpus:
            if g.id in promised:
                g.jobs -= 1
                g.planned -= promised[g.id]
        self.running -= 1

    def _fits(self, gpu: Gpu, need: int | None) -> bool:
        if self.per_gpu is not None and gpu.jobs >= self.per_gpu:
            return False
        if gpu.jobs == 0:  # an idle GPU takes anything, even a variant larger than it (it fails alone)
            return True
        if self.per_gpu is not None and (gpu.memory is None or need is None):
            return True  # --jobs asked for several per GPU, and there is nothing to check
        if gpu.memory is None or need is None:
            return False
        return gpu.planned + self._room(need) <= gpu.memory

    @staticmethod
    def _room(need: int) -> int:
        return int(need * ALLOCATOR_HEADROOM) + CONTEXT_BYTES

    def _claim(self, gpu: Gpu, need: int | None) -> int:
        # An unknown need takes the whole GPU, so nothing is packed beside it.
        take = self._room(need) if need is not None else (gpu.memory or 0)
        gpu.jobs += 1
        gpu.planned += take
        return take


class CpuPool:
    """Slots of CPU cores (see the module docstring)."""

    def __init__(self, slots: list[Slot]):
        self.slots, self.free = slots, list(slots)
        self.alone = len(slots) == 1

    def describe(self) -> str:
        return self.slots[0].name if len(self.slots) == 1 else f"{len(self.slots)} slots ({', '.join(s.name for s in self.slots)})"

    def place(self, need: int | None, count: int = 1) -> Slot | None:
        return self.free.pop(0) if self.free else None

    def release(self, slot: Slot) -> None:
        self.free.insert(0, slot)  # the freed slot takes the next variant


def visible_gpus() -> list[str]:
    """The GPU ids this process may use (as CUDA_VISIBLE_DEVICES names them)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    return list(gpu_memory())


def gpu_memory() -> dict[str, int]:
    """Each GPU's index -> total memory in bytes, as nvidia-smi reports them ({} without it)."""
    if shutil.which("nvidia-smi") is None:
        return {}
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in listed.stdout.splitlines():
        index, _, mib = line.partition(",")
        if index.strip().isdigit() and mib.strip().isdigit():
            found[index.strip()] = int(mib.strip()) * 2**20
    return found


def parse_gpus(text: str) -> list[str]:
    """--gpus "0,2" -> ["0", "2"]; HarnessError for anything else."""
    ids = [part.strip() for part in text.split(",")]
    if not ids or not all(part.isdigit() for part in ids) or len(set(ids)) != len(ids):
        raise HarnessError(f"--gpus {text!r}: give distinct GPU indices separated by commas, e.g. --gpus 0,2")
    return ids


def plan_pool(gpus: list[str] | None = None, jobs: int | None = None, cores: int | None = None,
              memory: int | None = None) -> GpuPool | CpuPool:
    """The pool of a run: see the module docstring for the defaults and overrides. `memory`
    (bytes, --gpu-memory) replaces what nvidia-smi says each GPU holds."""
    if jobs is not None and jobs < 1:
        raise HarnessError(f"--jobs {jobs}: run at least one variant at a time")
    devices = visible_gpus() if gpus is None else gpus
    if devices:
        known = gpu_memory() if memory is None else {}
        return GpuPool([Gpu(d, memory or known.get(d)) for d in devices], jobs)
    cores = cores or os.cpu_count() or 1
    if not jobs or jobs == 1:
        return CpuPool([Slot("cpu")])
    threads = max(1, cores // jobs)
    return CpuPool([Slot(f"cpu {i + 1}/{jobs}", {"HARNESS_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}, threads)
                    for i in range(jobs)])
