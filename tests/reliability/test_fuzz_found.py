"""Every crash the fuzz tests found, kept as a fixed example: each input below once ended
in a traceback (or a hang, or a message naming no file), and now ends in a clear error
naming the file and the place, or in a warning with the rest of the work done.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from fuzzing import ROOT, assert_clean, call_clean, invoke
from smoke_records import smoke_results

from harness.data import sources
from harness.data.templates import Template, render

SMOKE = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text(encoding="utf-8"))


def _mmlu_subjects(tree: dict, folder: Path) -> None:
    (folder / "mmlu" / "test").mkdir(parents=True)
    (folder / "mmlu" / "test" / "anatomy_test.csv").write_text("q,a,b,c,d,A\n", encoding="utf-8")
    tree["evals"].append({"name": "mc", "kind": "multiple_choice", "data": "mmlu:mmlu", "subjects": 2.0, "metrics": ["acc"]})


# The smoke suite with one change -> the YAML path the message must name.
SUITE_EDITS = {
    "evals: true": (lambda t, f: t.update(evals=True), "evals"),
    "metrics: 3.5": (lambda t, f: t["evals"][0].update(metrics=3.5), "evals[0].metrics"),
    "stages: 5": (lambda t, f: t["methods"][0].update(stages=5), "methods[0].stages"),
    "mixture: 1.5": (lambda t, f: t["methods"][0].update(train={"mixture": 1.5}), "methods[0].train.mixture"),
    "validation metrics: 3": (lambda t, f: t["train"].update(validation={"every": 5, "metrics": 3}), "train.validation.metrics"),
    "metric_args keyed 1 beside metrics as text": (lambda t, f: t["evals"][0].update(metrics="rouge1", metric_args={1: {}}),
                                                   "evals[0].metrics"),
    "columns naming a list": (lambda t, f: t["train"].update(columns={"x": [1]}), "train.columns.x"),
    "subjects: 2.0": (_mmlu_subjects, "evals[2].subjects"),
    "train template with no separator": (lambda t, f: t["train"].update(template="0x10"), "train.template"),
    "hub reference with no dataset": (lambda t, f: t["train"].update(data="hf:"), "train.data"),
    "data path longer than the system allows": (lambda t, f: t["train"].update(data="x" * 5000 + ".jsonl"), "train.data"),
    "parallel path longer than the system allows": (lambda t, f: t["evals"][0].update(data=f"parallel:{'x' * 5000}|b.txt"),
                                                    "evals[0].data"),
    "model name longer than the system allows": (lambda t, f: t.update(model="tiny-random-llama" + "x" * 5000), "model"),
    "hub id the hub refuses (97 characters)": (lambda t, f: t.update(model="a" * 97), "model"),
    "seed past 64 bits": (lambda t, f: t.update(seeds=[10**30]), "seeds[0]"),
    "threads past what torch takes": (lambda t, f: t.update(threads=10**30), "threads"),
}


@pytest.mark.parametrize("edit", sorted(SUITE_EDITS))
def test_suite_values(tmp_path, edit):
    change, place = SUITE_EDITS[edit]
    tree = json.loads(json.dumps(SMOKE))
    change(tree, tmp_path)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    result = invoke("validate", path)
    assert_clean("found: suite values", "validate", result, [str(path)])
    assert result.exit_code == 2 and f"\n  {place}: " in result.output, result.output[:3000]


ALIASES = "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh"))
SUITE_FILES = {
    "not UTF-8": b"\xff" + (ROOT / "suites" / "smoke.yaml").read_bytes(),
    "alias bomb (hung)": f"a: &a [x, x, x, x, x, x, x, x, x]\n{ALIASES}evals: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n".encode(),
    "alias inside itself": b"evals: &e [*e]\n",
    "nested 5,000 deep": b"evals: " + b"[" * 5000 + b"]" * 5000 + b"\n",
}


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path):
    """YAML keeps the last of two equal keys without a word: a suite setting `steps` twice
    would quietly run with the second. Merged keys (<<: *defaults) may still be overridden."""
    path = tmp_path / "suite.yaml"
    text = (ROOT / "suites" / "smoke.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("  steps: 60\n", "  steps: 60\n  steps: 6\n"), encoding="utf-8")
    result = invoke("validate", path)
    assert_clean("found: suite files", "validate", result, [str(path)])
    first = text.splitlines().index("  steps: 60") + 1
    assert result.exit_code == 2 and f"the key 'steps' is written twice (first on line {first})" in result.output
    assert f"line {first + 1}, column 3" in result.output
    merged = text.replace("train:\n", "defaults: &defaults {steps: 5}\ntrain:\n  <<: *defaults\n", 1)
    path.write_text(merged, encoding="utf-8")
    assert "written twice" not in invoke("validate", path).output


@pytest.mark.parametrize("name", sorted(SUITE_FILES))
def test_suite_files(tmp_path, name):
    path = tmp_path / "suite.yaml"
    path.write_bytes(SUITE_FILES[name])
    for command in ("validate", "report"):
        result = invoke(command, path)
        assert_clean("found: suite files", command, result, [str(path)])
        assert result.exit_code == 2


def test_report_on_a_suite_whose_name_is_too_long(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**SMOKE, "name": "smoke" + "x" * 5000}), encoding="utf-8")
    result = invoke("report", path, "--results", tmp_path)
    assert_clean("found: suite files", "report", result, [str(path)])
    assert result.exit_code == 2


def test_data_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"input": "a", "output": "b"}] * 20), sink)
    whole = sink.getvalue()  # a byte gone before the footer: pyarrow raises OSError, not ArrowException
    (tmp_path / "cut.parquet").write_bytes(whole[:-9] + whole[-8:])
    (tmp_path / "deep.jsonl").write_text('{"input": ' + "[" * 3000 + "]" * 3000 + "}\n", encoding="utf-8")
    (tmp_path / "deep.json").write_text("[" * 3000 + "]" * 3000, encoding="utf-8")
    for name in ("cut.parquet", "deep.jsonl", "deep.json"):
        assert call_clean("found: data files", "load_split", lambda: sources.load_split(name, "train", tmp_path), [name]) is None
    # a filter meeting a value of another type: SciTLDR's `source | join(' ')` on a null source
    template = Template("Abstract: {{ source | join(' ') }}\nTL;DR:", " {{ target[0] }}")
    assert call_clean("found: data files", "render", lambda: render(template, {"source": None, "target": ["t"]},
                                                                   where="dev.jsonl (train) row 3"), ["dev.jsonl (train) row 3"]) is None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, Path]:
    folder = smoke_results(tmp_path_factory.mktemp("found"))
    baseline = folder.parent / "baseline.json"
    assert invoke("baseline", folder, "--out", baseline).exit_code == 0
    return folder, baseline


def _baseline(data: dict) -> None:
    data["variants"][0]["evals"]["d2t"]["metrics"]["rouge1"]["scores"].pop()


# One file of the records changed -> the command, and the exit code that is right for it.
RECORD_EDITS = {
    "prediction ids that are lists": ("*/predictions/d2t.jsonl", lambda rows: [{**r, "id": [r["id"]]} for r in rows],
                                      ["baseline", "check", "report", "score"], 0),
    "per-example scores that are text": ("*/predictions/d2t.jsonl", lambda rows: [{**r, "scores": "x"} for r in rows],
                                         ["score"], 0),
    "a baseline's scores one short": ("baseline.json", _baseline, ["check"], 2),
    "a baseline's references a list of lists": ("baseline.json", lambda d: d["variants"][0]["evals"]["d2t"]["metrics"]["bleu"]
                                                .update(references=[[["x"]]] * 24), ["check"], 2),
    "a baseline's references empty": ("baseline.json", lambda d: d["variants"][0]["evals"]["reviews"]["metrics"]["macro_f1"]
                                      .update(references=[[]] * 40), ["check"], 2),
    "an eval's metrics holding a list": ("*/record.json", lambda d: d["spec"]["evals"][0].update(metrics=[["rouge1"]]),
                                         ["report"], 0),
    "a record naming another suite": ("*/record.json", lambda d: d.update(suite="other"), ["baseline", "check"], 2),
    "a comparison's interval as text": ("*/record.json", lambda d: d["metrics"]["d2t"]["rouge1"].update(
        vs_baseline={"delta": 0.1, "ci_low": "low", "ci_high": 0.2, "p_value": 0.5}), ["report"], 0),
}


@pytest.mark.parametrize("edit", sorted(RECORD_EDITS))
def test_records(tmp_path, smoke, edit):
    pattern, change, commands, code = RECORD_EDITS[edit]
    folder = tmp_path / "smoke"
    shutil.copytree(smoke[0], folder)
    baseline = shutil.copyfile(smoke[1], tmp_path / "baseline.json")
    target = sorted((tmp_path if pattern == "baseline.json" else folder).glob(pattern))[0]
    if target.suffix == ".jsonl":
        rows = change([json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()])
        target.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        data = json.loads(target.read_text(encoding="utf-8"))
        change(data)
        target.write_text(json.dumps(data), encoding="utf-8")
    for command in commands:
        args = {"baseline": ["baseline", folder, "--out", tmp_path / "new.json"], "check": ["check", folder, "--baseline", baseline],
                "report": ["report", folder, "--format", "html", "--out", tmp_path / "board.html"], "score": ["score", folder]}[command]
        result = invoke(*args)
        assert_clean("found: records", command, result, [str(target)], codes=(0, 1, 2))
        assert result.exit_code == code or (command == "check" and code == 0 and result.exit_code == 1), result.output[-3000:]
        if code == 0 and target.name == "record.json":
            assert str(target) in result.output  # the record left out is named


@pytest.mark.parametrize("damage", [b"\xff\xfe not UTF-8", b"check: " + b"[" * 3000 + b"]" * 3000])
def test_the_suite_copy_beside_the_records(tmp_path, smoke, damage):
    folder = tmp_path / "smoke"
    shutil.copytree(smoke[0], folder)
    (folder / "suite.yaml").write_bytes(damage)
    report = invoke("report", folder, "--format", "md", "--out", tmp_path / "board.md")
    assert_clean("found: records", "report", report, [str(folder / "suite.yaml")])
    assert report.exit_code == 0  # the page shows the resolved spec instead
    check = invoke("check", folder, "--baseline", smoke[1])
    assert_clean("found: records", "check", check, [str(folder / "suite.yaml")], codes=(0, 1, 2))
    assert check.exit_code == 2


def test_report_on_a_record_whose_empty_predictions_lack_a_count(tmp_path, smoke):
    """Found by the fuzz test on CI's real smoke records: `empty_predictions` holding
    {"count": 3} without "n" (the schema types the values, not the keys) was a KeyError in
    the leaderboard. The leaderboard is built, every variant on it."""
    folder = tmp_path / "smoke"
    shutil.copytree(smoke[0], folder)
    target = sorted(folder.glob("*/record.json"))[0]
    data = json.loads(target.read_text(encoding="utf-8"))
    data["empty_predictions"] = {"d2t": {"count": 3}}
    target.write_text(json.dumps(data), encoding="utf-8")
    result = invoke("report", folder, "--out", tmp_path / "board.html")
    assert_clean("found: records", "report", result, [str(target)])
    assert result.exit_code == 0 and f"{len(list(folder.glob('*/record.json')))} variants" in result.output
