"""The committed baseline and the example workflow stay usable with the code beside them."""

from __future__ import annotations

import yaml
from conftest import ROOT

from harness.gate import baseline
from harness.suite.loading import load_suite
from harness.suite.plan import plan


def test_committed_smoke_baseline_matches_the_smoke_suite():
    data = baseline.read(ROOT / "baselines" / "smoke.json")
    variants = plan(load_suite(ROOT / "suites" / "smoke.yaml"))
    assert data["suite"] == "smoke"
    assert {(v["name"], v["model"], v["seed"]) for v in data["variants"]} == {(v.name, v.model, v.seed) for v in variants}
    # Same data as the suite reads now: otherwise every check would say "not comparable".
    planned = {ev.name: variants[0].fingerprints[f"{ev.data}|{ev.split}"] for ev in variants[0].evals}
    for v in data["variants"]:
        assert {ev: e["fingerprint"] for ev, e in v["evals"].items()} == planned, v["name"]
        for e in v["evals"].values():
            assert all(m["kind"] != "unpaired" for m in e["metrics"].values())  # every metric can be tested
    assert data["check"]["tolerance"]["rouge1"] == 0.02


def test_example_workflow_runs_a_suite_and_gates_on_a_committed_baseline():
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions" / "regression-gate.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "pip install -e ." in commands
    assert "harness run suites/smoke.yaml --results results" in commands
    assert "harness check results/smoke --baseline baselines/smoke.json" in commands
    assert (ROOT / "suites" / "smoke.yaml").is_file() and (ROOT / "baselines" / "smoke.json").is_file()
