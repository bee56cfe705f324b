"""The CLI through click's CliRunner: validate, ls, and real runs of the tiny model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ls_lists_each_kind_with_help():
    out = invoke("ls", "methods").output
    assert "lora" in out and "low-rank" in out and "full" in out
    assert "rougeL" in invoke("ls", "metrics").output
    assert "data2text" in invoke("ls", "tasks").output
    assert "tiny-random-llama" in invoke("ls", "models").output


def test_validate_ok(write_suite):
    result = invoke("validate", str(write_suite(TINY_SUITE)))
    assert result.exit_code == 0, result.output
    assert "3 variants (1 baseline, 2 tuned)" in result.output


def test_validate_prints_every_problem_and_exits_2(write_suite):
    bad = TINY_SUITE.replace("method: full", "method: lorra").replace("r: 4,", "r: -4,").replace("[rouge1, bleu]", "[rouge1, rogue2]")
    result = invoke("validate", str(write_suite(bad)))
    assert result.exit_code == 2
    for path in ("methods[0].method", "methods[1].params.r", "evals[0].metrics[1]"):
        assert path in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content, expected", [(None, "no such suite file"), ("name: [unclosed", "not valid YAML"), ("- a list", "YAML mapping")])
def test_unreadable_suites_exit_2(tmp_path, content, expected):
    path = tmp_path / "s.yaml"
    if content is not None:
        path.write_text(content)
    result = invoke("validate", str(path))
    assert result.exit_code == 2 and expected in result.output


def test_only_matching_nothing_is_bad_input(write_suite, tmp_path):
    result = invoke("run", str(write_suite(TINY_SUITE)), "--results", str(tmp_path / "r"), "--only", "nothing*")
    assert result.exit_code == 2 and "matches no variant" in result.output


@pytest.mark.slow
def test_run_writes_records_then_skips_them(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))  # the CPU's peak is measured here, not in the user's cache
    suite, results = str(write_suite(TINY_SUITE)), tmp_path / "results"
    first = invoke("run", suite, "--results", str(results))
    assert first.exit_code == 0, first.output
    records = sorted((results / "tiny").glob("*/record.json"))
    assert len(records) == 3
    by_method = {}
    for path in records:
        record = json.loads(path.read_text())
        by_method[record["method"]] = record
        assert record["status"] == "ok" and record["error"] is None
        assert record["schema_version"] == 1 and record["suite"] == "tiny"
        assert path.parent.name == record["variant_id"]
        score = record["metrics"]["d2t"]["rouge1"]
        assert 0 <= score["ci_low"] <= score["value"] <= score["ci_high"] <= 1 and score["n"] == 4
        assert "signature" in record["metrics"]["d2t"]["bleu"]
        assert record["cost"]["peak_memory_bytes"] > 0 and record["cost"]["total_params"] > 0
        assert {"python", "torch", "transformers", "peft", "harness", "git_commit", "device"} <= set(record["env"])
        predictions = (path.parent / "predictions" / "d2t.jsonl").read_text().splitlines()
        assert len(predictions) == 4 and "rouge1" in json.loads(predictions[0])["scores"]
    assert by_method["baseline"]["cost"]["trainable_params"] == 0 and by_method["baseline"]["train_curve"] == []
    assert by_method["full"]["cost"]["trainable_params"] == by_method["full"]["cost"]["total_params"]
    assert len(by_method["lora"]["train_curve"]) == 2 and by_method["lora"]["cost"]["tokens_per_second"] > 0
    for method in ("full", "lora"):  # model FLOPs with attention (2 layers of 64), and MFU against the probed CPU
        cost = by_method[method]["cost"]
        assert cost["flops_per_token"] > 4 * cost["total_params"] and "(L=2, h=64, s=" in cost["flops_formula"]
        assert cost["train_flops"] == pytest.approx(cost["flops_per_token"] * cost["tokens_per_second"] * cost["train_seconds"], rel=0.05)
        assert 0 < cost["mfu"] < 1 and cost["peak_source"].startswith("probe: ") and " 1 threads fp32, measured " in cost["peak_source"]
    assert by_method["baseline"]["cost"]["mfu"] is None
    assert len(json.loads((tmp_path / "cache" / "probe" / "peak_flops.json").read_text())) == 1  # measured once for both

    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (results / "tiny").rglob("*") if p.is_file()}
    second = invoke("run", suite, "--results", str(results))
    assert second.exit_code == 0 and second.output.count("  skip  ") == 3 and "3 skipped" in second.output
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (results / "tiny").rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_failing_variant_fails_alone(write_suite, tmp_path):
    suite = TINY_SUITE.replace("r: 4, lora_alpha: 8", "r: 4, lora_alpha: 8, target_modules: [no_such_layer]")
    result = invoke("run", str(write_suite(suite)), "--results", str(tmp_path / "r"), "--only", "[bl]*")
    assert result.exit_code == 1
    records = {json.loads(p.read_text())["method"]: json.loads(p.read_text()) for p in (tmp_path / "r" / "tiny").glob("*/record.json")}
    assert records["baseline"]["status"] == "ok"
    assert records["lora"]["status"] == "failed" and "no_such_layer" in records["lora"]["error"]
    assert "FAIL" in result.output
