"""The Ray executor against the local one: the same suite gives the same variant ids, scores
and predictions; without Ray installed, `--executor ray` says how to get it (exit 2).

How it starts what it needs: `harness run --executor ray` without --address starts a real
local Ray instance (ray.init with this machine's cores) in a fresh CLI process and shuts it
down with that process; each variant is a Ray task that runs the real worker as a child
process. The local run is the same CLI with the default executor.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.records.store import read_record

pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'harness[ray]')")

SUITE = """\
name: rayed
model: tiny-random-llama
threads: 1
train: {data: builtin:data2text, limit: 16, steps: 2, batch_size: 2, max_length: 128, precision: fp32}
seeds: [0]
methods:
  - {name: lora, method: lora, params: {r: 4}}
  - {name: full-ddp, method: full, resources: {gpus: 2}}   # torchrun on the task's node: two CPU ranks
evals:
  - {name: d2t, data: builtin:data2text, split: test, limit: 4, max_new_tokens: 6, metrics: [rouge1, bleu]}
"""


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ray_writes_the_same_ids_scores_and_predictions_as_the_local_executor(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    local = harness("run", str(suite), "--results", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stdout + local.stderr
    rayed = harness("run", str(suite), "--results", "ray", "--executor", "ray", cwd=tmp_path)
    assert rayed.returncode == 0, rayed.stdout + rayed.stderr
    assert "3 variant(s) on ray (a local instance)" in rayed.stdout
    a, b = tmp_path / "local" / "rayed", tmp_path / "ray" / "rayed"
    ids = sorted(p.parent.name for p in a.glob("*/record.json"))
    assert ids == sorted(p.parent.name for p in b.glob("*/record.json")) and len(ids) == 3
    for variant in ids:
        mine, theirs = read_record(a / variant / "record.json"), read_record(b / variant / "record.json")
        assert theirs.status == "ok" and theirs.env["slot"].startswith("ray:")
        assert theirs.parallel["world_size"] == mine.parallel["world_size"] == (2 if variant.startswith("full-ddp") else 1)
        assert theirs.train_curve == mine.train_curve
        assert {m: s.value for m, s in mine.metrics["d2t"].items()} == {m: s.value for m, s in theirs.metrics["d2t"].items()}
        rows = [[json.loads(line)["prediction"] for line in (d / variant / "predictions" / "d2t.jsonl").read_text().splitlines()]
                for d in (a, b)]
        assert rows[0] == rows[1]
        assert (b / variant / "log.txt").stat().st_size > 0
    # a second run resumes like a local one: everything is skipped
    again = harness("run", str(suite), "--results", "ray", "--executor", "ray", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("  skip  ") == 3, again.stdout


def test_without_ray_the_executor_says_how_to_install_it(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    code = ("import importlib.machinery, sys\n"
            "class Refuse:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        return importlib.machinery.ModuleSpec(name, self) if name.split('.')[0] == 'ray' else None\n"
            "    def create_module(self, spec):\n"
            "        raise ImportError('ray is blocked in this test')\n"
            "    exec_module = create_module  # never reached: creating the module already fails\n"
            "sys.meta_path.insert(0, Refuse())\n"
            "from harness.cli import main\n"
            "sys.argv = ['harness', 'run', sys.argv[1], '--executor', 'ray', '--results', sys.argv[2]]\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code, str(suite), str(tmp_path / "r")], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'harness[ray]'" in done.stderr and "Traceback" not in done.stderr
