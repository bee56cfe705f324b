"""Every suite shipped in suites/ validates; the quickstart and the local-file suites run
shrunk on the real model, reading the real data in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT, SHARED_DATA

from harness.cli import main
from harness.suite.loading import load_suite
from harness.suite.plan import plan

SUITES = sorted((ROOT / "suites").glob("*.yaml"))
LOCAL_DATA_SUITES = ["scitldr", "ntrex-en-de", "mmlu-retention", "sst2-encoder"]  # data root ${HARNESS_DATA:-data}
HUB_SUITES = ["dialogsum", "wmt16-en-de", "mmlu-hub", "flan-t5-dialogsum", "ultrafeedback"]  # model and data from the hub


@pytest.fixture
def shared_data(monkeypatch):
    """HARNESS_DATA pointing at the real datasets beside the project (absolute: the suites
    resolve a relative root from their own folder)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared datasets are not at {SHARED_DATA}")
    monkeypatch.setenv("HARNESS_DATA", str(SHARED_DATA.resolve()))


def test_there_are_suites():
    assert SUITES, "suites/ holds no suite"
    names = {p.stem for p in SUITES}
    assert {"quickstart", "smoke", *LOCAL_DATA_SUITES, *HUB_SUITES} <= names


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_suite_validates_and_plans(path, shared_data):
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.output
    loaded = load_suite(path)
    variants = plan(loaded)
    assert variants and variants[0].method == "baseline"
    assert loaded.suite.name == path.stem
    hub = path.stem in HUB_SUITES  # offline, what is on the hub is said, not checked
    assert ("not checked offline" in result.output) == hub, result.output


def test_local_suites_name_the_missing_data_without_harness_data(monkeypatch):
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    result = CliRunner().invoke(main, ["validate", str(ROOT / "suites" / "ntrex-en-de.yaml")])
    assert result.exit_code == 2
    assert f"{ROOT / 'suites' / 'data' / 'ntrex' / 'newstest2019-src.eng.txt'} does not exist" in result.output


def shrunk(name: str, tmp_path, **train) -> tuple:
    """suites/NAME.yaml cut to a CI size: a few training steps and examples, a few scored
    examples with short generations, a short drift probe. Returns (suite path, raw)."""
    raw = yaml.safe_load((ROOT / "suites" / f"{name}.yaml").read_text())
    raw["train"].update(steps=2, limit=8, **train)
    if "drift_probe" in raw:
        raw["drift_probe"] = {"prompts": 2, "max_new_tokens": 4}
    for ev in raw["evals"]:
        ev["limit"] = 4 if ev.get("kind", "generation") != "multiple_choice" else 2  # MMLU prompts are long
        if ev.get("kind", "generation") == "generation":
            ev["max_new_tokens"] = 8
    suite = tmp_path / f"{name}.yaml"
    suite.write_text(yaml.safe_dump(raw))
    return suite, raw


def run_shrunk(suite, tmp_path, only: str) -> dict:
    """Run a shrunk suite; its records by variant name (every one ok, the page written)."""
    result = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--only", only],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"leaderboard: leaderboards/{suite.stem}.html" in result.output
    assert (tmp_path / "leaderboards" / f"{suite.stem}.html").is_file()
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "r" / suite.stem).glob("*/record.json"))}
    assert all(r["status"] == "ok" for r in records.values())
    return records


def predictions(tmp_path, suite: str, record: dict, ev: str) -> list[dict]:
    path = tmp_path / "r" / suite / record["variant_id"] / "predictions" / f"{ev}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_smoke_suite_trains_every_method(tmp_path):
    """suites/smoke.yaml as CI runs it: every method ends ok and shows that it really ran.

    .ci/run runs the smoke suite once, gates it with `harness check`, and hands its folder
    to this test in HARNESS_SMOKE_RESULTS rather than spending three minutes running it again;
    without that variable the test runs the suite itself."""
    import os

    from harness.registry import METHODS

    given = os.environ.get("HARNESS_SMOKE_RESULTS")
    if given:
        folder = Path(given)
        assert (folder / "suite.yaml").read_text() == (ROOT / "suites" / "smoke.yaml").read_text(), "a run of another smoke suite"
    else:
        result = CliRunner().invoke(main, ["run", str(ROOT / "suites" / "smoke.yaml"), "--results", str(tmp_path)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        folder = tmp_path / "smoke"
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in folder.glob("*/record.json"))}
    assert len(records) == 17
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
    suite, _ = shrunk("quickstart", tmp_path)
    records = run_shrunk(suite, tmp_path, "[bl]*")
    assert sorted(records) == ["baseline", "baseline-5shot", "lora-r8"]
    # an instruct model: prompted through its chat template, tuned or not; the 5-shot
    # baseline as chat turns, every prompt with all 5 examples
    assert records["lora-r8"]["spec"]["stages"][0]["chat"] is True
    assert [e["chat"] for e in records["baseline"]["spec"]["evals"]] == [True, False]  # MMLU-style stays plain
    assert records["baseline-5shot"]["method_info"]["shots"]["evals"]["d2t"] == {"min": 5, "fewer": 0}
    assert records["baseline-5shot"]["empty_predictions"]["d2t"]["count"] == 0
    lora = records["lora-r8"]
    assert lora["metrics"]["arithmetic"]["acc"]["format"] == "continuation" and "arithmetic" in lora["forgetting"]
    assert lora["drift"]["value"] is not None and len(lora["train_curve"]) == 2
    assert lora["cost"]["trainable_params"] == 2_442_240  # r=8 on every linear layer of SmolLM2-135M


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_scitldr_suite_runs_shrunk_on_the_real_data(tmp_path, shared_data):
    """suites/scitldr.yaml on the real SciTLDR files: the prompt is the joined abstract, every
    reference TL;DR of a paper is scored, the MMLU retention check fills forgetting."""
    suite, _ = shrunk("scitldr", tmp_path)
    records = run_shrunk(suite, tmp_path, "[bl]*")
    assert sorted(records) == ["baseline", "lora-r16"]
    lora = records["lora-r16"]
    assert lora["cost"]["trainable_params"] == 4_884_480  # r=16 on every linear layer of SmolLM2-135M
    papers = read_jsonl(SHARED_DATA / "scitldr" / "test.jsonl")[:4]
    rows = predictions(tmp_path, "scitldr", lora, "tldr")
    assert [r["references"] for r in rows] == [p["target"] for p in papers]
    assert rows[0]["prompt"] == "Abstract: " + " ".join(papers[0]["source"]) + "\nTL;DR:"
    assert set(lora["metrics"]["tldr"]) >= {"rouge1", "rouge2", "rougeL"}
    assert {r["subject"] for r in predictions(tmp_path, "scitldr", lora, "mmlu-cs")} == {"college_computer_science"}
    assert "mmlu-cs" in lora["forgetting"]


@pytest.mark.slow
def test_ntrex_suite_runs_shrunk_on_the_real_data(tmp_path, shared_data):
    """suites/ntrex-en-de.yaml on the real newstest2019 pairs: training reads the first pairs,
    the scored ones start at pair 1,501 with the German line as reference; BLEU and chrF."""
    suite, _ = shrunk("ntrex-en-de", tmp_path)
    records = run_shrunk(suite, tmp_path, "lora*")  # no retention eval: the baseline adds nothing to check
    english = (SHARED_DATA / "ntrex" / "newstest2019-src.eng.txt").read_text(encoding="utf-8").splitlines()
    german = (SHARED_DATA / "ntrex" / "newstest2019-ref.deu.txt").read_text(encoding="utf-8").splitlines()
    rows = predictions(tmp_path, "ntrex-en-de", records["lora-r16"], "newstest")
    assert [r["references"] for r in rows] == [[line] for line in german[1500:1504]]
    assert rows[0]["prompt"] == f"Translate English to German.\nEnglish: {english[1500]}\nGerman:"
    scores = records["lora-r16"]["metrics"]["newstest"]
    assert set(scores) >= {"bleu", "chrf"} and "nrefs:1" in scores["bleu"]["signature"]


@pytest.mark.slow
def test_mmlu_retention_suite_runs_shrunk_on_the_real_data(tmp_path, shared_data):
    """suites/mmlu-retention.yaml: Self-Instruct in the chat template, MMLU 0- and 5-shot in
    lm-eval's plain prompt (the five shots are the subject's dev questions)."""
    suite, _ = shrunk("mmlu-retention", tmp_path)
    records = run_shrunk(suite, tmp_path, "[bl]*")
    lora = records["lora-r16"]
    tasks = read_jsonl(SHARED_DATA / "self-instruct" / "user_oriented_instructions.jsonl")
    rows = predictions(tmp_path, "mmlu-retention", lora, "self-instruct")
    assert [r["references"] for r in rows] == [[t["instances"][0]["output"]] for t in tasks[200:204]]
    chat = {ev["name"]: ev["chat"] for ev in lora["spec"]["evals"]}
    assert chat == {"self-instruct": True, "mmlu-0shot": False, "mmlu-5shot": False}  # as trained, and lm-eval's
    five = predictions(tmp_path, "mmlu-retention", lora, "mmlu-5shot")
    assert five[0]["subject"] == "abstract_algebra" and five[0]["prompt"].count("Answer:") == 6
    assert {"mmlu-0shot", "mmlu-5shot"} <= set(lora["forgetting"])


@pytest.mark.slow
def test_sst2_encoder_suite_runs_shrunk_with_accuracy_equal_to_sklearn(tmp_path, shared_data):
    """suites/sst2-encoder.yaml on the real SST-2 file and minilm-l6: the scored rows are the
    last 30% of the file, and the recorded accuracy and macro-F1 equal scikit-learn's on the
    saved predictions against the file's own labels."""
    import csv

    from sklearn.metrics import accuracy_score, f1_score

    suite, raw = shrunk("sst2-encoder", tmp_path)
    raw["evals"][0]["limit"] = 48
    suite.write_text(yaml.safe_dump(raw))
    records = run_shrunk(suite, tmp_path, "[bl]*")
    assert sorted(records) == ["baseline", "lora-r8"]
    with (SHARED_DATA / "sst2" / "dev.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    start = round(len(rows) * 0.7)  # datasets' "test[70%:]" of 872 rows starts at 610
    gold = [r["label"] for r in rows[start:start + 48]]
    for name, record in records.items():
        scored = predictions(tmp_path, "sst2-encoder", record, "sst2")
        assert [r["references"] for r in scored] == [[g] for g in gold]
        assert scored[0]["prompt"] == rows[start]["sentence"]  # the template "{{sentence}} |||": the sentence alone
        predicted = [r["prediction"] for r in scored]
        scores = record["metrics"]["sst2"]
        assert scores["accuracy"]["value"] == pytest.approx(accuracy_score(gold, predicted), abs=1e-12), name
        assert scores["macro_f1"]["value"] == pytest.approx(f1_score(gold, predicted, average="macro"), abs=1e-12), name
    assert records["lora-r8"]["cost"]["trainable_params"] == 2 * 384 + 2 + 8 * (6 * (4 * 768 + 2 * (384 + 1536)) + 768)
