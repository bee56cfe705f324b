"""Optional packages (pyproject's extras): a suite naming a method or eval kind whose package is
not installed gets a `harness validate` note at its YAML path with the pip command of the extra
(a note: the suite may run on machines that have it), and the code path itself (the variant
that runs here) fails with the same fix. Absence is simulated by
making importlib's finder (checks) or the import (qlora) report the package missing."""

from __future__ import annotations

import builtins
import importlib.util

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import HarnessError
from harness.suite import checks

SUITE = """\
name: extras
model: tiny-random-llama
train: {data: builtin:data2text, steps: 1}
methods:
  - {name: q, method: qlora}
evals:
  - {name: d2t, data: builtin:data2text, split: test, limit: 2, metrics: [rouge1]}
  - {name: lm, kind: lm_eval, data: q.jsonl, metrics: [acc], task: task.yaml}
"""


def _files(tmp_path):
    (tmp_path / "q.jsonl").write_text('{"question": "q"}\n')
    (tmp_path / "task.yaml").write_text("task: t\n")


def test_validate_notes_the_extra_of_a_missing_package(write_suite, monkeypatch, tmp_path):
    _files(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(checks.importlib.util, "find_spec", lambda m, *a: None if m in ("bitsandbytes", "lm_eval") else real(m, *a))
    result = CliRunner().invoke(main, ["validate", str(write_suite(SUITE))])
    assert result.exit_code == 0
    assert "note: methods[0].method: method qlora needs the bitsandbytes package, which is not installed here " \
           "(its variants fail on this machine): pip install 'harness[qlora]'" in result.output
    assert "evals[1].kind: kind lm_eval needs the lm_eval package" in result.output and "harness[lm-eval]" in result.output


def test_installed_packages_pass(write_suite, tmp_path):
    _files(tmp_path)
    pytest.importorskip("bitsandbytes")
    pytest.importorskip("lm_eval")
    result = CliRunner().invoke(main, ["validate", str(write_suite(SUITE))])
    assert result.exit_code == 0 and "needs the" not in result.output, result.output


def test_qlora_without_bitsandbytes_names_the_extra(monkeypatch):
    from harness.methods import qlora

    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "bitsandbytes":
            raise ImportError("No module named 'bitsandbytes'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(HarnessError, match=r"method qlora needs bitsandbytes.*pip install 'harness\[qlora\]'"):
        qlora._bnb()
