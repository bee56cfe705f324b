"""Every suite shipped in suites/ validates and plans."""

from __future__ import annotations

import pytest

from harness.plan import plan
from harness.spec import load_suite

from conftest import ROOT

SUITES = sorted((ROOT / "suites").glob("*.yaml"))


def test_there_are_suites():
    assert SUITES, "suites/ holds no suite"


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_suite_validates_and_plans(path):
    loaded = load_suite(path)
    variants = plan(loaded)
    assert variants and variants[0].method == "baseline"
    assert loaded.suite.name == path.stem


@pytest.mark.slow
def test_smoke_suite_trains_every_method(tmp_path):
    """suites/smoke.yaml as CI runs it: every method ends ok and shows that it really ran."""
    import json

    from click.testing import CliRunner

    from harness.cli import main
    from harness.registry import METHODS

    result = CliRunner().invoke(main, ["run", str(ROOT / "suites" / "smoke.yaml"), "--results", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "smoke").glob("*/record.json"))}
    assert all(r["status"] == "ok" for r in records.values())
    assert {r["method"] for r in records.values()} == set(METHODS.names())  # every registered method ran
    info = {name: r["method_info"] for name, r in records.items()}
    assert info["qlora-r8"]["4bit_layers"] == 14
    assert info["prompt-tuning"]["num_virtual_tokens"] == 8 and info["prefix-tuning"]["num_virtual_tokens"] == 8
    assert info["freeze-top1"]["trainable_groups"] == ["block 1", "head"]
    assert [e[1] for e in info["ulmfit"]["stages"][0]["events"]][0] == "unfroze head"
    assert len(info["lora-staged"]["stages"]) == 2 and len(info["full-mixture"]["stages"][0]["data"]) == 2
    assert records["ulmfit"]["cost"]["trainable_params"] == records["full"]["cost"]["trainable_params"]
    assert records["baseline"]["drift"]["value"] == 0.0 and records["full"]["drift"]["value"] > 0
    assert "reviews" in records["full"]["forgetting"] and "vs_baseline" in records["full"]["metrics"]["d2t"]["rouge1"]
    probe = records["probe"]["metrics"]["reviews"]["accuracy"]
    assert probe["predicted_by"] == "head" and probe["value"] > records["baseline"]["metrics"]["reviews"]["accuracy"]["value"]
    for name, r in records.items():
        if r["method"] not in ("baseline", "linear_probe"):
            curve = [loss for _, loss in r["train_curve"]]
            assert min(curve[-5:]) < curve[0], name  # every method's training moved its loss down
