"""The device peak MFU divides by: the GPU table looked up by the names torch gives, and the
CPU probe measured once and cached (a damaged cache measured again), in a temporary
HARNESS_CACHE so no test touches the user's."""

from __future__ import annotations

import json

import pytest

from harness.run import peak


@pytest.mark.parametrize("name, dtype, key, tflops", [
    ("NVIDIA H100 80GB HBM3", "bf16", "H100", 989.4),
    ("NVIDIA H100 PCIe", "bf16", "H100 PCIe", 756.5),
    ("NVIDIA H200", "fp32", "H200", 67.0),
    ("NVIDIA A100-SXM4-80GB", "tf32", "A100", 156.0),
    ("NVIDIA L4", "fp16", "L4", 121.0),  # not L40S
    ("NVIDIA L40S", "bf16", "L40S", 362.05),
    ("NVIDIA A10G", "bf16", "A10G", 125.0),
])
def test_gpu_peaks_by_name(name, dtype, key, tflops):
    found = peak.gpu_peak(name, dtype)
    assert found == peak.Peak(tflops * 1e12, f"table: {key} {dtype}")


def test_an_unknown_gpu_has_no_peak():
    assert peak.gpu_peak("NVIDIA GeForce RTX 3090", "bf16") is None
    assert peak.gpu_peak("NVIDIA H100", "fp8") is None


@pytest.fixture
def probed(tmp_path, monkeypatch):
    """Calls of the (stubbed) probe, with the cache in tmp_path."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    calls = []

    def measure(dtype):
        calls.append(dtype)
        return 2.5e11

    monkeypatch.setattr(peak, "measure", measure)
    return calls


def test_the_cpu_probe_is_measured_once_then_read(probed, tmp_path):
    first = peak.cpu_peak("bf16")
    assert probed == ["bf16"] and first.flops == 2.5e11
    assert first.source.startswith("probe: ") and " threads bf16, measured " in first.source
    assert peak.probe_file() == tmp_path / "cache" / "probe" / "peak_flops.json"
    assert peak.cpu_peak("bf16") == first and probed == ["bf16"]  # read from the file
    peak.cpu_peak("fp32")  # another dtype is another entry
    assert probed == ["bf16", "fp32"]
    assert len(json.loads(peak.probe_file().read_text())) == 2


def test_a_damaged_cache_is_measured_again(probed):
    peak.cpu_peak("fp32")
    peak.probe_file().write_text('{"half a file')
    assert peak.cpu_peak("fp32").flops == 2.5e11 and probed == ["fp32", "fp32"]
    assert len(json.loads(peak.probe_file().read_text())) == 1  # rewritten whole
    key = next(iter(json.loads(peak.probe_file().read_text())))
    peak.probe_file().write_text(json.dumps({key: {"flops": "fast"}}))  # parses, but is no measurement
    peak.cpu_peak("fp32")
    assert probed == ["fp32"] * 3


def test_the_probe_measures_matrix_multiplies():
    assert peak.measure("fp32", seconds=0.02, size=64) > 1e6  # any CPU does a MFLOP/s
