"""The optimizer a stage names: each one the maintained implementation, configured as its
name says, and what ran (with the dtypes of weights and optimizer state) in the record."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main
from harness.records.store import read_record
from harness.train import optimizers


def steps(name: str, n: int = 5) -> torch.Tensor:
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 64)
    opt = optimizers.build(name, [{"params": [layer.weight], "lr": 1e-2, "weight_decay": 0.1},
                                  {"params": [layer.bias], "lr": 1e-2, "weight_decay": 0.0}], 1e-2)
    torch.manual_seed(1)
    for _ in range(n):
        layer(torch.randn(8, 64)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    return layer.weight.detach().clone()


def test_paged_adamw_is_adamw_and_sgd_steps_by_the_gradient():
    # bitsandbytes' 32-bit paged AdamW runs unpaged on a CPU (it says so): the same update rule
    # as torch's AdamW, decoupled weight decay per group included.
    with pytest.warns(UserWarning, match="not supported on CPU"):
        paged = steps("paged_adamw_32bit")
    assert torch.allclose(paged, steps("adamw"), atol=1e-6)
    assert not torch.allclose(steps("adamw"), steps("sgd"), atol=1e-3)
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 1)
    opt = optimizers.build("sgd", [{"params": list(layer.parameters()), "lr": 0.5, "weight_decay": 0.0}], 0.5)
    layer(torch.ones(1, 4)).sum().backward()
    before = layer.weight.detach().clone()
    opt.step()  # first step: the momentum buffer is the gradient itself, all ones here
    assert torch.allclose(layer.weight, before - 0.5)
    assert type(optimizers.build("adafactor", [{"params": [torch.nn.Parameter(torch.ones(2, 2))]}], 1e-3)).__name__ == "Adafactor"


def test_auto_is_adamw_or_the_methods_choice_on_a_gpu():
    assert optimizers.resolve("auto", None, torch.device("cpu")) == "adamw"
    assert optimizers.resolve("auto", "paged_adamw_32bit", torch.device("cpu")) == "adamw"
    assert optimizers.resolve("auto", "paged_adamw_32bit", torch.device("cuda")) == "paged_adamw_32bit"
    assert optimizers.resolve("sgd", "paged_adamw_32bit", torch.device("cuda")) == "sgd"
    assert optimizers.state_dtype("adamw_8bit", torch.float32).startswith("int8")
    assert optimizers.state_dtype("adamw", torch.bfloat16) == "bf16"


@pytest.mark.slow
def test_weights_in_bf16_and_sgd_are_what_the_record_says(write_suite, tmp_path):
    suite = TINY_SUITE.replace("seeds: [0]", "seeds: [0]\nload_dtype: bf16").replace(
        "  precision: fp32", "  precision: fp32\n  optimizer: sgd\n  learning_rate: 1.0e-2").replace(
        "  - name: lora-r4\n    method: lora\n    params: {r: 4, lora_alpha: 8}\n", "")
    result = CliRunner().invoke(main, ["run", str(write_suite(suite)), "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    found = {r.name: r for r in (read_record(p) for p in (tmp_path / "r" / "tiny").glob("*/record.json"))}
    full = found["full"]
    assert full.dtypes == {"weights": "bf16", "compute": "fp32", "optimizer": "sgd", "optimizer_state": "bf16"}
    assert full.spec["load_dtype"] == "bf16" and full.train_curve[0][1] != full.train_curve[-1][1]
    assert found["baseline"].dtypes == {"weights": "bf16", "compute": "fp32"}
