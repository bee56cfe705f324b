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


@pytest.mark.slow
def test_quickstart_runs_shrunk_on_the_real_model(tmp_path):
    """suites/quickstart.yaml as `make demo` runs it, with every size cut to a few examples
    and steps (the full run is measured in the README): the real model trains, the
    retention check and the drift probe fill the forgetting columns, the page is written."""
    import json

    import yaml
    from click.testing import CliRunner

    from harness.cli import main

    raw = yaml.safe_load((ROOT / "suites" / "quickstart.yaml").read_text())
    raw["train"].update(steps=2, limit=8)
    raw["drift_probe"] = {"prompts": 2, "max_new_tokens": 4}
    for ev in raw["evals"]:
        ev["limit"] = 4
        ev.pop("max_new_tokens", None)
    raw["evals"][0]["max_new_tokens"] = 8
    suite = tmp_path / "quickstart.yaml"
    suite.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--only", "[bl]*"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "leaderboard: leaderboards/quickstart.html" in result.output and (tmp_path / "leaderboards" / "quickstart.html").is_file()
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "r" / "quickstart").glob("*/record.json"))}
    assert sorted(records) == ["baseline", "lora-r8"]
    lora = records["lora-r8"]
    assert lora["metrics"]["arithmetic"]["acc"]["format"] == "continuation" and "arithmetic" in lora["forgetting"]
    assert lora["drift"]["value"] is not None and len(lora["train_curve"]) == 2
    assert lora["cost"]["trainable_params"] == 2_442_240  # r=8 on every linear layer of SmolLM2-135M
