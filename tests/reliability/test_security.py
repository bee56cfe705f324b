"""What a suite, a record or a model folder says cannot run code or write outside the results.

- A model folder shipping its own Python code (its config's auto_map, as hub repositories
  with custom architectures do): the code is never imported unless the suite sets
  trust_remote_code, and then every record says it was on. The code here writes a marker
  file when imported, so "never ran" is checked, not assumed.
- Records are files anyone can edit: an eval name that is a path, or a variant folder that
  is a link out of the results, must not make `harness score` or `harness report` read or
  write a file elsewhere.
- `harness report` and `harness check` parse what they read (JSON, YAML through the safe
  loader): a YAML tag asking to call a Python function is refused, never called.

How it starts what it needs: the model folder is the built-in tiny-random-llama saved with
save_pretrained, its config rewritten to name a custom class; the worker runs in this
process (run_variant) on a one-example suite; the CLI runs through CliRunner.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import HarnessError
from harness.records.store import read_record

CONFIG_CODE = '''\
from pathlib import Path

Path({marker!r}).write_text("the model's own code ran")  # transformers imports a copy: the path is absolute

from transformers import LlamaConfig, LlamaForCausalLM


class MarkedConfig(LlamaConfig):
    model_type = "marked-llama"


class MarkedForCausalLM(LlamaForCausalLM):
    config_class = MarkedConfig
'''


@pytest.fixture
def model_with_code(tmp_path) -> Path:
    from harness.models.tiny import tiny_random_llama

    folder = tmp_path / "marked"
    model, tokenizer = tiny_random_llama()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "marked.py").write_text(CONFIG_CODE.replace("{marker!r}", repr(str(folder / "IMPORTED"))))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="marked-llama", architectures=["MarkedForCausalLM"],
                  auto_map={"AutoConfig": "marked.MarkedConfig", "AutoModelForCausalLM": "marked.MarkedForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


SUITE = """\
name: remote
model: marked
threads: 1
{trust}
evals:
  - {{name: d2t, data: builtin:data2text, split: test, limit: 1, max_new_tokens: 2, metrics: [rouge1]}}
"""


def _baseline(write_suite, trust: str):
    from harness.suite.loading import load_suite
    from harness.suite.plan import plan

    suite = write_suite(SUITE.format(trust=trust))
    return next(v for v in plan(load_suite(str(suite))) if v.method == "baseline")


@pytest.mark.slow
def test_a_models_own_code_runs_only_when_the_suite_trusts_it_and_the_record_says_so(model_with_code, write_suite,
                                                                                      tmp_path):
    from harness import models
    from harness.run.worker import run_variant

    marker = model_with_code / "IMPORTED"
    with pytest.raises(HarnessError, match="config could not be read"):
        models.load(str(model_with_code), tmp_path)  # off by default: transformers refuses
    untrusted = _baseline(write_suite, "")
    assert untrusted.trust_remote_code is False
    record = run_variant(untrusted, tmp_path / "untrusted")
    assert record.status == "failed" and "trust_remote_code" in record.error
    assert not marker.exists(), "the model's code ran although the suite did not trust it"

    trusted = _baseline(write_suite, "trust_remote_code: true")
    assert trusted.id != untrusted.id  # on is part of what a variant is
    record = run_variant(trusted, tmp_path / "trusted")
    assert record.status == "ok", record.error
    assert record.env["trust_remote_code"] is True
    assert read_record(tmp_path / "trusted" / "record.json").env["trust_remote_code"] is True
    assert marker.exists()


def _suite_with_records(tmp_path) -> Path:
    """A results folder with two real records (the fixtures of the report tests)."""
    from recordsets import record, score, write  # tests/report/recordsets.py

    suite_dir = tmp_path / "results" / "demo"
    records = [record(name, method="baseline" if name == "baseline" else "lora",
                      metrics={"d2t": {"rouge1": score(value)}}, variant_id=f"{name}-0123456789")
               for name, value in (("baseline", 0.3), ("lora", 0.5))]
    rows = [{"id": i, "prediction": "a b", "references": ["a b c"]} for i in range(4)]
    return write(suite_dir, records, predictions={r.variant_id: {"d2t": rows} for r in records})


@pytest.fixture
def recordsets_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "report"))


def test_an_eval_name_that_is_a_path_reads_and_writes_nothing_outside(tmp_path, recordsets_on_path):
    suite_dir = _suite_with_records(tmp_path)
    outside = tmp_path / "outside.jsonl"
    rows = [{"id": i, "prediction": "x", "references": ["y"]} for i in range(4)]
    outside.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = outside.read_bytes()
    path = next(suite_dir.glob("lora-*/record.json"))
    data = json.loads(path.read_text())
    escape = "../../../../outside"  # from predictions/ up through the variant, suite and results folders
    data["metrics"][escape] = data["metrics"]["d2t"]
    data["spec"]["evals"].append({**data["spec"]["evals"][0], "name": escape})
    path.write_text(json.dumps(data))
    for command in (["score", str(suite_dir)], ["report", str(suite_dir), "--out", str(tmp_path / "page.html")]):
        result = CliRunner().invoke(main, command)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert result.exit_code in (0, 2), result.output
    assert outside.read_bytes() == before


def test_a_variant_folder_linked_out_of_the_results_is_left_alone(tmp_path, recordsets_on_path):
    suite_dir = _suite_with_records(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(next(suite_dir.glob("lora-*"))), elsewhere)
    (suite_dir / "lora-linked").symlink_to(elsewhere, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()}
    for command in (["score", str(suite_dir)], ["report", str(suite_dir), "--out", str(tmp_path / "page.html")]):
        result = CliRunner().invoke(main, command)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert {p.name: p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()} == before


def test_yaml_tags_that_call_python_are_refused_by_report_and_check(tmp_path, recordsets_on_path):
    suite_dir = _suite_with_records(tmp_path)
    marker = tmp_path / "CALLED"
    tag = f"!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path [{str(marker)!r}]]"
    (suite_dir / "suite.yaml").write_text(f"name: demo\nmodel: {tag}\n")
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(textwrap.dedent(f"""\
        suite: demo
        metrics: {tag}
        """))
    report = CliRunner().invoke(main, ["report", str(suite_dir), "--out", str(tmp_path / "page.html")])
    check = CliRunner().invoke(main, ["check", str(suite_dir), "--baseline", str(baseline)])
    for result in (report, check):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert check.exit_code == 2 and str(baseline) in check.output
    assert not marker.exists()
