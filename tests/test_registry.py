"""The lazy registries: names, did-you-mean, and nothing heavy imported to list them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.registry import METHODS, METRICS, Registry, UnknownName


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownName, match=r"unknown method 'lorra'; did you mean 'lora'\? known: .*baseline, .*lora"):
        METHODS.get("lorra")


def test_no_suggestion_when_nothing_is_close():
    assert "did you mean" not in METRICS.unknown_message("zzzzzz")


def test_double_registration_is_refused():
    r = Registry("thing")
    r.register("a", "x:y", "help")
    with pytest.raises(ValueError):
        r.register("a", "x:z", "help")


def test_torch_free_half_imports_without_torch():
    code = ("import sys; import harness.spec, harness.plan, harness.results, harness.registry, harness.validate;"
            "import harness.compare, harness.gate.snapshot, harness.gate.baseline, harness.gate.check, harness.gate.output;"
            "from harness.spec import load_suite; from harness.plan import plan;"
            "plan(load_suite('suites/smoke.yaml'));"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    from conftest import ROOT

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
