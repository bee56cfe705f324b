"""The device's peak FLOP/s in a compute dtype: what a record's MFU (model FLOP utilisation)
divides the achieved FLOP/s by.

* A GPU: PEAK_TFLOPS, dense peaks by GPU and dtype from NVIDIA's data sheets. Data sheets
  quote tensor-core figures with 2:4 structured sparsity (marked *), twice the dense rate
  that training gets; the table holds the dense ones. fp32 is the plain CUDA-core rate,
  tf32 the tensor-core rate that fp32 matrix multiplies get when torch allows it
  (torch.set_float32_matmul_precision("high")). To add a GPU: one line, keyed by the word
  torch.cuda.get_device_name() contains for it.
* A CPU: no table can know it (cores, clocks, AVX-512, AMX, whether bf16 is native or
  emulated), so a short probe measures it: square matrix multiplies in the dtype at the
  process's torch thread count, the best of a few repeats, about a second. It runs once per
  machine: the result is cached as JSON under the harness cache (<root>/probe/peak_flops.json,
  beside <root>/models), keyed by CPU model, threads, dtype and torch version, written
  atomically under a file lock, so parallel variants neither corrupt the file nor measure at
  the same moment (each would see half the cores). A file that does not parse is measured
  again and rewritten. The probe measures what this machine's torch reaches, not a vendor's
  figure: an MFU on a CPU is relative to matrix multiplies at their best. Measured while
  other work shares the cores, the peak reads low (and MFU high): delete the file to
  measure again on a quiet machine.

`peak(device, dtype)` returns a Peak with its source, which the record keeps beside the figure.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.models.cache import cache_root
from harness.records.store import write_text_atomic
from harness.run.environment import cpu_name

log = logging.getLogger(__name__)

# Dense peak TFLOP/s (no sparsity) by dtype, from NVIDIA's data sheets (SXM boards where a
# GPU comes in several; the PCIe and NVL H100 have their own lines). NVIDIA publishes no
# A10G sheet (the AWS variant of the A10): its line is the A10's, and the A10G is reported
# to run tensor math at about 70 TFLOP/s, so its MFU may read low.
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100 PCIe": {"fp32": 51.0, "tf32": 378.0, "bf16": 756.5, "fp16": 756.5},
    "H100 NVL": {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05},
    "A10G": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0},
    "L4": {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0},
}
PROBE_FILE = "peak_flops.json"
PROBE_SECONDS = 1.0  # measuring time in all, warm-up aside
PROBE_REPEATS = 5  # the best of these is kept: the others were slowed by something else
PROBE_SIZE = 1024  # 2 GFLOP a multiply: large enough for full-speed kernels, short on 2 cores


@dataclass(frozen=True)
class Peak:
    flops: float  # FLOP/s
    source: str  # "table: H100 bf16" or "probe: <cpu> 2 threads bf16, measured <date>"


def gpu_peak(name: str, dtype: str) -> Peak | None:
    """The table's peak for a GPU named as torch.cuda.get_device_name() names it ("NVIDIA
    H100 80GB HBM3"): the longest key whose words are all words of the name; None if none."""
    words = set(re.split(r"[^A-Z0-9]+", name.upper()))
    keys = [k for k in PEAK_TFLOPS if set(k.upper().split()) <= words and dtype in PEAK_TFLOPS[k]]
    if not keys:
        return None
    key = max(keys, key=len)
    return Peak(PEAK_TFLOPS[key][dtype] * 1e12, f"table: {key} {dtype}")


def peak(device, dtype: str) -> Peak | None:
    """The peak of one process's device in the compute dtype (fp32, bf16 or fp16); None for a
    GPU the table does not know."""
    import torch

    if device.type == "cuda":
        if dtype == "fp32" and torch.get_float32_matmul_precision() != "highest":
            dtype = "tf32"  # fp32 matrix multiplies run on tensor cores in tf32
        name = torch.cuda.get_device_name(device)
        found = gpu_peak(name, dtype)
        if found is None:
            log.info("no peak FLOP/s known for %s in %s (add it to PEAK_TFLOPS): MFU left out", name, dtype)
        return found
    return cpu_peak(dtype)


def probe_file() -> Path:
    return cache_root().parent / "probe" / PROBE_FILE


def cpu_peak(dtype: str) -> Peak:
    """This CPU's measured peak in `dtype` at the current thread count, from the cache or measured now."""
    import torch

    cpu, threads = cpu_name(), torch.get_num_threads()
    key = f"{cpu} | {threads} threads | {dtype} | torch {torch.__version__}"
    path = probe_file()
    entry = _read(path).get(key)
    if entry is None:
        from filelock import FileLock  # a dependency of huggingface_hub, so always installed

        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            cached = _read(path)  # another process may have measured while this one waited
            entry = cached.get(key)
            if entry is None:
                entry = {"flops": measure(dtype), "cpu": cpu, "threads": threads, "dtype": dtype,
                         "torch": torch.__version__, "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
                cached[key] = entry
                write_text_atomic(path, json.dumps(cached, indent=2, sort_keys=True) + "\n")
                log.info("measured this CPU's peak: %.3g FLOP/s in %s at %d threads (cached in %s)",
                         entry["flops"], dtype, threads, path)
    return Peak(float(entry["flops"]), f"probe: {cpu} {threads} threads {dtype}, measured {entry['measured']}")


def _read(path: Path) -> dict:
    """The cached measurements; {} when there are none or the file is damaged (then measured again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("%s is unreadable (%s): measuring again", path, err)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("flops"), (int, float))
            and v["flops"] > 0 and isinstance(v.get("measured"), str)}


def measure(dtype: str, seconds: float = PROBE_SECONDS, size: int = PROBE_SIZE) -> float:
    """FLOP/s of size x size matrix multiplies in `dtype` on the CPU: the fastest of
    PROBE_REPEATS timed runs, each long enough (several multiplies) to time reliably."""
    import torch

    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(torch_dtype) for _ in range(2))
    out = torch.empty(size, size, dtype=torch_dtype)
    with torch.inference_mode():
        torch.matmul(a, b, out=out)  # warm-up: the library picks its kernel and allocates
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        once = time.perf_counter() - start
        per_repeat = max(1, int(seconds / PROBE_REPEATS / max(once, 1e-9)))
        best = float("inf")
        for _ in range(PROBE_REPEATS):
            start = time.perf_counter()
            for _ in range(per_repeat):
                torch.matmul(a, b, out=out)
            best = min(best, (time.perf_counter() - start) / per_repeat)
    return 2.0 * size**3 / best
