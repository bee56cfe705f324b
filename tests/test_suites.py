"""Every suite shipped in suites/ validates and plans."""

from __future__ import annotations

import pytest

from harness.plan import plan
from harness.spec import load_suite

from conftest import ROOT

SUITES = sorted((ROOT / "suites").glob("*.yaml"))


def test_there_are_suites():
    assert SUITES, "suites/ holds no suite"


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_suite_validates_and_plans(path):
    loaded = load_suite(path)
    variants = plan(loaded)
    assert variants and variants[0].method == "baseline"
    assert loaded.suite.name == path.stem
