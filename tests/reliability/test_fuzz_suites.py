"""Fuzzing `harness validate` (and `harness report SUITE`) with broken copies of the real
suites in suites/: wrong types, unknown and missing keys, huge or negative numbers, unicode,
names with path separators, broken YAML, unsafe tags, alias bombs, non-UTF-8 bytes.

Every case ends with exit 0, or exit 2 and a message naming the file; a suite's problems
each carry their YAML path. The suites that read files find them in ../shared/data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fuzzing import FUZZ, ROOT, SHARED_DATA, assert_clean, case_dir, invoke
from hypothesis import given
from hypothesis import strategies as st
from mutations import broken_bytes, broken_text, mutated_tree

from harness.errors import SuiteError
from harness.suite.loading import load_suite

SUITES = sorted((ROOT / "suites").glob("*.yaml"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in SUITES}
TREES = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
names = st.sampled_from(sorted(TEXTS))


@pytest.fixture(autouse=True)
def _data(monkeypatch):
    # The real-data suites read ${HARNESS_DATA}; without ../shared they fail with exit 2, still a clear error.
    monkeypatch.setenv("HARNESS_DATA", str(SHARED_DATA))


def judge(target: str, path: Path) -> None:
    """validate and report on one suite file: clean exits; a suite's problems each with a YAML path."""
    result = invoke("validate", path)
    assert_clean(target, "validate", result, [str(path), path.name])
    if result.exit_code == 2 and "problem(s)" in result.output:
        with pytest.raises(SuiteError) as err:
            load_suite(path)
        assert all(p.path for p in err.value.problems), f"a problem without its YAML path:\n{err.value}"
    report = invoke("report", path, "--results", path.parent / "results", "--format", "md")
    assert_clean(target, "report", report, [str(path), path.name, str(path.parent / "results")])
    assert report.exit_code == 2  # never any records here


@FUZZ
@given(name=names, data=st.data())
def test_mutated_values_and_keys(tmp_path, name, data):
    """The YAML tree with values of other types, numbers out of range, keys removed or added."""
    tree = data.draw(mutated_tree(TREES[name], max_mutations=3, root=False))
    with case_dir(tmp_path) as case:
        path = case / name
        path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
        judge("suite: values and keys", path)


@FUZZ
@given(name=names, data=st.data())
def test_broken_yaml_text(tmp_path, name, data):
    """The file as written (comments and all) cut, with punctuation dropped in, lines repeated or re-indented."""
    text = data.draw(broken_text(TEXTS[name], max_mutations=3))
    with case_dir(tmp_path) as case:
        path = case / name
        path.write_text(text, encoding="utf-8")
        judge("suite: YAML text", path)


@FUZZ
@given(name=names, data=st.data())
def test_broken_bytes(tmp_path, name, data):
    """Not UTF-8, NUL bytes, a byte-order mark, CRLF, a very long line, an empty file."""
    raw = data.draw(broken_bytes(TEXTS[name].encode("utf-8")))
    with case_dir(tmp_path) as case:
        path = case / name
        path.write_bytes(raw)
        judge("suite: bytes", path)


# YAML that the safe loader must refuse or that expands past any sensible size.
HOSTILE = {
    "python tag": "name: !!python/object/apply:os.system ['touch {case}/PWNED']\n",
    "python name": "model: !!python/name:os.system\n",
    "python module": "evals: !!python/module:os\n",
    "unknown tag": "name: !custom x\n",
    "binary": "name: !!binary aGVsbG8=\n",
    "set": "evals: !!set {a, b}\n",
    "timestamp": "name: 2001-12-14t21:59:43.10-05:00\n",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nevals: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
    "recursive alias": "evals: &e [*e]\n",
    "recursive mapping": "train: &t {validation: *t}\n",
    "duplicate keys": "name: a\nname: b\n",
    "complex key": "? [a, b]\n: c\n",
    "int keys": "1: x\nnull: y\n",
    "many documents": "name: a\n---\nname: b\n",
    "deep nesting": "evals: " + "[" * 5000 + "]" * 5000 + "\n",
    "merge key": "base: &b {name: x}\nevals: [{<<: *b, data: builtin:data2text, metrics: [rouge1]}]\n",
}


@FUZZ
@given(name=names, hostile=st.sampled_from(sorted(HOSTILE)), where=st.sampled_from(["append", "replace"]))
def test_unsafe_and_hostile_yaml(tmp_path, name, hostile, where):
    """Unsafe tags are refused (and never run), alias bombs and cycles are refused, odd keys reported."""
    with case_dir(tmp_path) as case:
        snippet = HOSTILE[hostile].replace("{case}", str(case))
        text = TEXTS[name] + "\n" + snippet if where == "append" else snippet
        path = case / name
        path.write_text(text, encoding="utf-8")
        judge("suite: hostile YAML", path)
        assert not (case / "PWNED").exists()
