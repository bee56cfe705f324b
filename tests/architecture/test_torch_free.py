"""The torch-free half runs where the heavy libraries cannot be imported.

Each check starts the real CLI in a fresh Python process whose import system refuses
torch, transformers, peft and datasets (a meta-path finder installed before harness is
imported), on records written by hand: `report`, `score`, `baseline` and `check` must
work from records alone, as on a CI runner that has only the results. `validate` needs none
of them either for split strings and for methods whose params are typed fields (it imports
peft only to check keys passed through to a peft config).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "peft", "datasets")

# A found module whose loading fails: `import torch` raises ImportError, while a library that
# only asks whether torch is installed (importlib.util.find_spec) is told it is.
BLOCKER = """
import importlib.machinery, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            return importlib.machinery.ModuleSpec(name, self)
        return None
    def create_module(self, spec):
        raise ImportError(f"{{spec.name}} is blocked in this test")
    exec_module = create_module  # never reached: creating the module already fails
sys.meta_path.insert(0, Refuse())
from harness.cli import main
sys.argv = ["harness"] + sys.argv[1:]
main()
"""


def run_cli(args: list[str], cwd: Path, blocked=HEAVY) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER.format(blocked=tuple(blocked)), *args], cwd=cwd,
                          capture_output=True, text=True)


def write_variant(folder: Path, name: str, method: str, outputs: list[str], references: list[str]) -> None:
    """A record with ROUGE-1 and BLEU scores and its predictions, as a worker writes them."""
    from harness.metrics.text import bleu, rouge1
    from harness.records.predictions import write_predictions
    from harness.records.schema import Record
    from harness.records.store import write_record

    refs = [[r] for r in references]
    scores = {m.__name__: m(outputs, refs) for m in (rouge1, bleu)}
    record = Record(suite="tf", variant_id=f"{name}-0", name=name, model="tiny", method=method, params={}, seed=0,
                    status="ok", metrics={"e": {k: v.to_record() for k, v in scores.items()}},
                    spec={"evals": [{"name": "e", "data": "x.jsonl", "split": "test", "metrics": ["rouge1", "bleu"]}],
                          "fingerprints": {"x.jsonl|test": "f" * 16}},
                    finished_at="2026-01-01T00:00:00+00:00")
    directory = folder / record.variant_id
    write_record(directory, record)
    write_predictions(directory, "e", [
        {"id": i, "prompt": f"p{i}", "prediction": o, "references": r,
         "scores": {"rouge1": scores["rouge1"].per_example[i], "bleu": scores["bleu"].per_example[i]}}
        for i, (o, r) in enumerate(zip(outputs, refs))])


@pytest.fixture
def results(tmp_path) -> Path:
    refs = [f"the cat number {i} sat on the mat near door {i % 3}" for i in range(12)]
    folder = tmp_path / "results" / "tf"
    write_variant(folder, "baseline", "baseline", [f"a dog {i}" for i in range(12)], refs)
    write_variant(folder, "tuned", "lora", [r.replace("mat", "rug") for r in refs], refs)
    return folder


def test_the_blocker_really_blocks(tmp_path):
    done = subprocess.run([sys.executable, "-c", BLOCKER.format(blocked=HEAVY).split("from harness")[0] + "import torch"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "torch is blocked" in done.stderr


def test_report_score_baseline_and_check_run_without_the_heavy_libraries(results, tmp_path):
    done = run_cli(["score", str(results)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "re-scored 2 record(s)" in done.stdout
    record = json.loads((results / "tuned-0" / "record.json").read_text())
    assert record["metrics"]["e"]["rouge1"]["vs_baseline"]["delta"] > 0.5  # paired comparisons were computed

    done = run_cli(["report", str(results), "--format", "md"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tuned" in done.stdout and "rouge1" in done.stdout
    done = run_cli(["report", str(results), "--out", str(tmp_path / "page.html")], tmp_path)
    assert done.returncode == 0 and (tmp_path / "page.html").stat().st_size > 10_000, done.stderr

    done = run_cli(["baseline", str(results), "--out", str(tmp_path / "base.json")], tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_cli(["check", str(results), "--baseline", str(tmp_path / "base.json")], tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "PASSED" in done.stdout


def test_validate_needs_no_heavy_library_for_split_strings_and_typed_params(tmp_path):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(20)))
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodel: tiny-random-llama\ntrain: {data: train.jsonl, split: 'train[:80%]'}\n"
                     "methods: [{method: full}, {method: freeze, params: {top_blocks: 1}}, {method: lora, params: {r: 4}}]\n"
                     "evals: [{name: e, data: train.jsonl, split: 'train[80%:]', metrics: [rouge1]}]\n")
    done = run_cli(["validate", str(suite)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout and "4 variants" in done.stdout
    # a problem is still found and named without them
    suite.write_text(suite.read_text().replace("train[80%:]", "train[80%:](nearest)"))
    done = run_cli(["validate", str(suite)], tmp_path)
    assert done.returncode == 2 and "evals[0]" in done.stderr and "rounding must be" in done.stderr, done.stderr
