"""Shared fixtures: suite files written into tmp_path, the repo root, the shared data."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(session, config, items):
    # An empty run must fail loudly, never pass as "no tests ran" (pytest's exit 5).
    if not items and not config.getoption("collectonly"):
        raise pytest.UsageError("no tests were collected: check the test paths and -k/-m filters")


# `harness run` writes leaderboards/<suite>.html under the working directory: tests run
# elsewhere, so none writes into the repository. The session-wide folder serves fixtures
# of a wider scope (they start before any test's own tmp_path exists).
@pytest.fixture(scope="session", autouse=True)
def _cwd_for_the_session(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _cwd_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def write_suite(tmp_path):
    """write_suite(yaml_text, name='suite.yaml') -> path of a suite file in tmp_path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


TINY_SUITE = """\
name: tiny
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  limit: 16
  steps: 2
  batch_size: 2
  max_length: 128
  precision: fp32
seeds: [0]
methods:
  - name: full
    method: full
  - name: lora-r4
    method: lora
    params: {r: 4, lora_alpha: 8}
evals:
  - name: d2t
    data: builtin:data2text
    split: test
    limit: 4
    max_new_tokens: 8
    metrics: [rouge1, bleu]
"""


def fit(applied, tokenizer, pairs, cfg, seed: int = 0, **kw):
    """Train on (prompt, completion) pairs the way the worker does, for tests of methods."""
    from harness.train.batches import Source
    from harness.train.loop import train
    from harness.train.trainset import encode_pairs

    return train(applied, tokenizer, [Source("pairs", encode_pairs(tokenizer, pairs, cfg, "pairs"))], cfg, seed, **kw)
