"""Markdown, CSV and JSON from hand-made records, and `harness report` through the CLI."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from recordsets import record, score, write

from harness.cli import main
from harness.report import build_table, render

EVALS = [{"name": "d2t", "metrics": ["rouge1", "bleu"]}, {"name": "reviews", "metrics": ["accuracy"], "retention": True}]


def _suite(folder):
    forgot = {"reviews": {"accuracy": {"base": 0.8, "tuned": 0.7, "delta": -0.1, "ci_low": -0.2, "ci_high": 0.0, "p_value": 0.04}}}
    return write(folder, [
        record("baseline", "baseline", metrics={"d2t": {"rouge1": score(0.1, 0.05, 0.15), "bleu": 2.0}, "reviews": {"accuracy": 0.8}}, evals=EVALS),
        *(record("lora", "lora", s, metrics={"d2t": {"rouge1": v, "bleu": 9.0}, "reviews": {"accuracy": 0.7}},
                 evals=EVALS, forgetting=forgot) for s, v in [(0, 0.30), (1, 0.34)]),
        record("full", "full", metrics={"d2t": {"rouge1": score(0.4, 0.35, 0.45), "bleu": 12.0}, "reviews": {"accuracy": 0.7}},
               evals=EVALS, forgetting=forgot),
        record("ia3", "ia3", status="failed", error="ValueError: target modules not found"),
    ])


def test_markdown_lines_up_in_a_terminal(tmp_path):
    text = render([build_table(_suite(tmp_path))], "md")
    blocks = [b.splitlines() for b in text.split("\n\n") if b.startswith("|")]
    assert len(blocks) == 4  # d2t, reviews, forgetting, cost
    for lines in blocks:
        assert len({len(line) for line in lines}) == 1, lines  # every row of a table is as wide as its header
        assert len(lines[0]) <= 120
    d2t = blocks[0]
    assert d2t[0].split("|")[1].strip() == "variant" and "rouge1 (0-1)" in d2t[0] and "bleu (0-100)" in d2t[0]
    assert [line.split("|")[1].strip() for line in d2t[2:]] == ["baseline", "full", "lora (2 seeds)"]
    assert "**0.400** [0.350, 0.450]" in d2t[3] and "0.320 ± 0.028 (2 seeds)" in d2t[4]
    assert "- ia3: ValueError: target modules not found" in text
    assert "**Bold**: best in its column" in text
    forgetting = blocks[2]
    assert "baseline" not in "".join(forgetting) and "-0.100 [-0.200, 0.000]" in forgetting[2]


def test_csv_has_one_row_per_run_and_metric_with_the_recorded_values(tmp_path):
    folder = _suite(tmp_path)
    frame = pd.read_csv(io.StringIO(render([build_table(folder)], "csv")))
    scores = frame[frame["eval"] == "d2t"]
    assert len(scores) == 4 * 2  # baseline, full, lora seeds 0 and 1; rouge1 and bleu
    lora1 = scores[(scores["name"] == "lora") & (scores["seed"] == 1) & (scores["metric"] == "rouge1")].iloc[0]
    assert lora1["value"] == pytest.approx(0.34) and lora1["method"] == "lora"
    full = scores[(scores["name"] == "full") & (scores["metric"] == "rouge1")].iloc[0]
    assert (full["ci_low"], full["ci_high"], bool(full["best"])) == (0.35, 0.45, True)
    forgetting = frame[frame["eval"] == "forgetting/reviews"]
    assert set(forgetting["name"]) == {"full", "lora"} and set(forgetting["vs_baseline_p"]) == {0.04}
    failed = frame[frame["status"] == "failed"]
    assert list(failed["name"]) == ["ia3"] and "target modules" in failed["error"].iloc[0]
    assert str(frame["seed"].dtype) == "int64"


def test_json_is_the_table(tmp_path):
    data = json.loads(render([build_table(_suite(tmp_path))], "json"))
    assert data["suite"] == "demo" and [r["name"] for r in data["rows"]] == ["baseline", "full", "lora", "ia3"]
    lora = data["rows"][2]
    assert lora["seeds"] == [0, 1] and lora["cells"]["metric:d2t/rouge1"]["value"] == pytest.approx(0.32)
    assert data["rows"][3]["status"] == "failed" and data["rows"][3]["errors"] == ["ValueError: target modules not found"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_report_writes_html_by_default_and_the_rest_to_stdout(tmp_path):
    folder = _suite(tmp_path / "results" / "demo")
    done = invoke("report", str(folder))
    assert done.exit_code == 0, done.output
    page = tmp_path / "leaderboards" / "demo.html"  # under the working directory (tests run in tmp_path)
    assert page.is_file() and str(page.relative_to(tmp_path)) in done.output
    md = invoke("report", str(folder), "--format", "md")
    assert md.output.startswith("## demo: leaderboard")
    out = tmp_path / "board.csv"
    assert invoke("report", str(tmp_path / "results"), "--format", "csv", "--out", str(out)).exit_code == 0
    assert out.read_text().startswith("suite,model,name")
    # a suite file finds its records under --results
    suite = tmp_path / "demo.yaml"
    suite.write_text("name: demo\nmodel: tiny-random-llama\nevals: []\n")
    assert json.loads(invoke("report", str(suite), "--results", str(tmp_path / "results"), "--format", "json").output)["suite"] == "demo"


@pytest.mark.parametrize("setup, expected", [
    (lambda p: p.mkdir(), "no records found"),
    (lambda p: p.with_suffix(".yaml").write_text("name: other\n"), "no records of suite 'other'"),
])
def test_report_bad_input_exits_2(tmp_path, setup, expected):
    target = tmp_path / "empty"
    setup(target)
    source = target if target.exists() else target.with_suffix(".yaml")
    done = CliRunner().invoke(main, ["report", str(source), "--results", str(tmp_path)])
    assert done.exit_code == 2 and expected in done.output and "Traceback" not in done.output


def test_report_refuses_one_out_file_for_several_suites(tmp_path):
    _suite(tmp_path / "r" / "a")
    write(tmp_path / "r" / "b", [record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}, suite="b")])
    done = CliRunner().invoke(main, ["report", str(tmp_path / "r"), "--out", str(tmp_path / "x.html")])
    assert done.exit_code == 2 and "holds 2 suites" in done.output


def test_every_format_renders_without_torch(tmp_path):
    import subprocess
    import sys

    folder = _suite(tmp_path / "demo")
    code = ("import sys; from harness.report import build_table, render; t = build_table(sys.argv[1]);"
            "[render([t], f) for f in ('html', 'md', 'csv', 'json')];"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
