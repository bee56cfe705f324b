"""Fuzzing the data readers with broken copies of real data: rows from ../shared/data
(SciTLDR, GSM8K, SST-2, Self-Instruct, MMLU, NTREX) and the built-in tasks, written as
jsonl, json, csv, tsv or parquet with wrong types, missing columns, empty files and
splits, non-UTF-8 bytes and very long lines.

Each case goes through what a user runs, `harness validate` on a suite whose training and
eval data are the broken file, and through the torch-free steps the worker takes with the
data (harness/data: load_split, map_columns, the templates, references, questions); each
ends with the rows, or a HarnessError naming the file. Mutated copies go to tmp_path only.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import FUZZ, SHARED_DATA, assert_clean, call_clean, case_dir, invoke
from hypothesis import given
from hypothesis import strategies as st
from mutations import NASTY_STRINGS, broken_bytes, mutated_tree

from harness.data import builtin, mmlu, questions, sources
from harness.data.templates import Template, per_row, render
from harness.errors import HarnessError
from harness.evaluate.scoring import references_of
from harness.suite.loading import load_suite
from harness.suite.plan import plan

ROWS = 12  # rows taken from each real file: enough for slices, cheap to write per example


@dataclass(frozen=True)
class Source:
    """Real rows and how a suite reads them (as the project's suites do)."""

    name: str
    rows: list[dict[str, Any]]
    template: Any
    kind: str = "generation"
    metrics: tuple[str, ...] = ("rouge1",)
    label: str | None = None
    references: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(ROWS)]


def _tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        header, *lines = [line.rstrip("\n").split("\t") for _, line in zip(range(ROWS + 1), f)]
    return [dict(zip(header, values)) for values in lines]


def _sources() -> list[Source]:
    found = [
        Source("data2text", builtin.task("data2text").generate("test")[:ROWS], "{{input}}\n ||| {{output}}", references="references"),
        Source("sentiment", builtin.task("sentiment").generate("test")[:ROWS], "Review: {{text}}\nSentiment: ||| {{label}}",
               kind="classification", metrics=("accuracy",), label="label"),
        Source("arithmetic", builtin.task("arithmetic").generate("test")[:ROWS], "Question: {{question}}\nAnswer: ||| {{choices[answer]}}",
               kind="multiple_choice", metrics=("acc",)),
    ]
    if SHARED_DATA.is_dir():
        found += [
            Source("scitldr", _jsonl(SHARED_DATA / "scitldr" / "dev.jsonl"),
                   {"prompt": "Abstract: {{ source | join(' ') }}\nTL;DR:", "completion": " {{ target[0] }}"}, references="target"),
            Source("gsm8k", _jsonl(SHARED_DATA / "gsm8k" / "test.jsonl"), "Question: {{question}}\nAnswer: ||| {{answer}}",
                   metrics=("exact_match",)),
            Source("self-instruct", _jsonl(SHARED_DATA / "self-instruct" / "user_oriented_instructions.jsonl"),
                   {"prompt": "{{instruction}}{% if instances[0].input %}\n\n{{instances[0].input}}{% endif %}",
                    "completion": "{{instances[0].output}}"}, metrics=("rougeL",)),
            Source("sst2", _tsv(SHARED_DATA / "sst2" / "dev.tsv"), "{{sentence}} |||", kind="classification",
                   metrics=("accuracy", "macro_f1"), label="label"),
        ]
    return found


SOURCES = {s.name: s for s in _sources()}
FORMATS = [".jsonl", ".json", ".csv", ".tsv", ".parquet"]
# Split strings as a suite might write them: half of them readable (so the rows get read),
# the rest empty slices, out of range, malformed or several.
READABLE = ["train", "test", "train[:80%]", "test[80%:]", "train[-3:]", "validation[2:9]"]
ODD_SPLITS = ["train[:0]", "test[100%:]", "train[5:5]", "train[:101%]", "train[:50%](pct1_dropremainder)", "train+test",
              "train[", "", " ", "tr ain", "train[a:b]", "test[-100%:]", "train[:99999999999999999999]", "x" * 300]
splits = st.one_of(st.sampled_from(READABLE), st.sampled_from(READABLE), st.sampled_from(ODD_SPLITS), st.text(max_size=12))


def _plain(value: Any) -> str:
    """A value as one CSV/TSV cell: nested values as JSON, None as empty (as spreadsheet tools write)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)


def _table(rows: list[Any], sep: str) -> bytes:
    header: list[str] = []
    for row in rows:
        for key in row if isinstance(row, dict) else []:
            if str(key) not in header:
                header.append(str(key))
    out = io.StringIO()
    if sep == ",":
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_plain(row.get(k)) for k in header] if isinstance(row, dict) else [_plain(row)])
    else:  # TSV has no quoting: a tab or newline inside a value breaks its row, as in real files
        out.write("\t".join(header) + "\n")
        for row in rows:
            out.write("\t".join(_plain(row.get(k)) for k in header) + "\n" if isinstance(row, dict) else _plain(row) + "\n")
    return out.getvalue().encode("utf-8")


def _parquet(rows: list[Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    try:
        pq.write_table(pa.Table.from_pylist([r if isinstance(r, dict) else {"value": r} for r in rows]), sink)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        # mixed types, or a struct with no fields ({}): written as text, as a tool would
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([{str(k): _plain(v) for k, v in r.items()} if isinstance(r, dict)
                                             else {"value": _plain(r)} for r in rows]), sink)
    return sink.getvalue()


def serialize(rows: Any, suffix: str, wrap: bool) -> bytes:
    """Rows in one of the formats the readers take (json optionally as {"data": [...]})."""
    rows = rows if isinstance(rows, list) else [rows]
    if suffix == ".jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    if suffix == ".json":
        return json.dumps({"data": rows} if wrap else rows, ensure_ascii=False).encode("utf-8")
    if suffix == ".parquet":
        return _parquet(rows)
    return _table(rows, "," if suffix == ".csv" else "\t")


def suite_yaml(source: Source, ref: str, train_split: str, eval_split: str) -> str:
    """A suite training and scoring on the file, as the project's suites read such data."""
    ev: dict[str, Any] = {"name": "ev", "data": ref, "split": eval_split, "kind": source.kind, "metrics": list(source.metrics)}
    train: dict[str, Any] = {"data": ref, "split": train_split, "steps": 2}
    if source.kind == "multiple_choice":
        method = {"method": "lora"}
        train["template"] = source.template
    elif source.kind == "classification":
        method = {"method": "linear_probe"}
        train.update(template=source.template, label=source.label)
        ev.update(template=source.template, label=source.label)
    else:
        method = {"method": "lora"}
        train["template"] = source.template
        if source.references:
            ev["references"] = source.references
    suite = {"name": "fuzz", "model": "tiny-random-llama", "train": train, "methods": [method], "evals": [ev]}
    return yaml.safe_dump(suite, allow_unicode=True, sort_keys=False)


def as_worker_reads(path: Path) -> None:
    """The torch-free steps the worker takes with each planned variant's data: the training
    pairs (render_pairs, stage_labels) and each eval's prompts and references or questions."""
    for variant in plan(load_suite(path)):
        base = Path(variant.base_dir)
        for stage in variant.stages:
            for d in stage.datasets():
                rows = sources.map_columns(sources.load_split(d.data, d.split, base, d.limit), d.columns, d.data)
                templates = d.template if isinstance(d.template, list) else [d.template]
                written = per_row([Template(t.prompt, t.completion) for t in templates], len(rows))  # as render_pairs
                for i, row in enumerate(rows):
                    where = f"{d.data} ({d.split}) row {i + 1}"
                    render(written[i], row, where=where)
                    if stage.label is not None and stage.label not in row:
                        raise HarnessError(f"{where}: no label column {stage.label!r}")
                    str(row.get(stage.label))
        for ev in variant.evals:
            if ev.kind == "multiple_choice":
                questions.questions(ev.data, ev.split, base, ev.subjects, ev.limit)
                continue
            rows = sources.map_columns(sources.load_split(ev.data, ev.split, base, limit=ev.limit), ev.columns, ev.data)
            template = Template(ev.template.prompt, "" if ev.references else ev.template.completion)
            for i, row in enumerate(rows):
                where = f"{ev.data} ({ev.split}) row {i + 1}"
                _, completion = render(template, row, where=where)
                if ev.kind == "generation":
                    references_of(ev, row, completion, where)
                elif ev.label not in row:
                    raise HarnessError(f"{where}: no label column {ev.label!r}")


def judge(target: str, path: Path, suite: Path, split: str) -> None:
    """validate, then the worker's reading when validate passed, then each reader on its own."""
    names = [path.name]
    result = invoke("validate", suite)
    assert_clean(target, "validate", result, names)  # the suite is sound: a problem is the data file's
    if result.exit_code == 0:
        call_clean(target, "worker's reading", lambda: as_worker_reads(suite), names)
    ref, base = path.name, path.parent
    call_clean(target, "load_split", lambda: sources.load_split(ref, split, base), names)
    call_clean(target, "columns", lambda: sources.columns(ref, split, base), names)
    call_clean(target, "fingerprint", lambda: sources.fingerprint(ref, split, base), names)


@pytest.mark.parametrize("suffix", FORMATS)
@FUZZ
@given(name=st.sampled_from(sorted(SOURCES)), wrap=st.booleans(), train_split=splits, eval_split=splits, data=st.data())
def test_mutated_rows(tmp_path, suffix, name, wrap, train_split, eval_split, data):
    """Rows with values of other types, columns missing or added, rows emptied or repeated."""
    source = SOURCES[name]
    rows = data.draw(mutated_tree(source.rows, max_mutations=4, root=False))
    with case_dir(tmp_path) as case:
        path = case / f"{name}{suffix}"
        path.write_bytes(serialize(rows, suffix, wrap))
        suite = case / "suite.yaml"
        suite.write_text(suite_yaml(source, path.name, train_split, eval_split), encoding="utf-8")
        judge(f"data file: rows mutated ({suffix})", path, suite, eval_split)


@pytest.mark.parametrize("suffix", FORMATS)
@FUZZ
@given(name=st.sampled_from(sorted(SOURCES)), data=st.data())
def test_broken_files(tmp_path, suffix, name, data):
    """The file's bytes broken: not UTF-8, NUL, a byte-order mark, CRLF, a very long line,
    cut short, emptied or blank; for parquet, a damaged file."""
    source = SOURCES[name]
    raw = data.draw(broken_bytes(serialize(source.rows, suffix, wrap=False)))
    split = data.draw(st.sampled_from(["train", "test[:50%]", "test[50%:]"]))
    with case_dir(tmp_path) as case:
        path = case / f"{name}{suffix}"
        path.write_bytes(raw)
        suite = case / "suite.yaml"
        suite.write_text(suite_yaml(source, path.name, "train", split), encoding="utf-8")
        judge(f"data file: bytes broken ({suffix})", path, suite, split)


@FUZZ
@given(name=st.sampled_from(["bad.txt", "noext", "x.JSONL", ".jsonl", "dir.jsonl", "a/../b.csv", "x" * 300 + ".jsonl",
                             "missing.parquet", "hf:", "hf:a:b:c", "builtin:", "builtin:nope", "mmlu:", "parallel:a",
                             "parallel:a|b|c", "parallel: | ", *NASTY_STRINGS[:20]]), split=splits)
def test_references_that_name_no_readable_file(tmp_path, name, split):
    """A data reference that is no file, a folder, an unknown scheme or a name the system refuses."""
    with case_dir(tmp_path) as case:
        (case / "dir.jsonl").mkdir()
        suite = case / "suite.yaml"
        suite.write_text(suite_yaml(SOURCES["data2text"], name, "train", split), encoding="utf-8")
        result = invoke("validate", suite)
        assert_clean("data reference: no readable file", "validate", result, [str(suite)])
        assert result.exit_code == 2 or name.startswith("builtin:"), result.output
        if not name.startswith("hf:"):  # the hub is not reached offline: nothing to read here
            call_clean("data reference: no readable file", "load_split", lambda: sources.load_split(name, split, case),
                       [name[:40], repr(name)[:40], str(case), "split", "data reference"])


# MMLU: the folder layout (dev/, test/) with broken CSV files, read by harness/data/mmlu.py.
MMLU_SUBJECTS = ["anatomy", "astronomy"]


@FUZZ
@given(data=st.data(), split=st.sampled_from(["test", "test[:3]", "test[50%:]", "dev", "val", "test+dev", "nope", "test[:0]"]),
       shots=st.sampled_from([0, 5, 50]))
def test_mmlu_folder(tmp_path, data, split, shots):
    """Question rows with fields missing or added, answers that are no letter, broken bytes."""
    if not (SHARED_DATA / "mmlu").is_dir():
        pytest.skip(f"no MMLU copy at {SHARED_DATA / 'mmlu'} (../shared/data)")
    with case_dir(tmp_path) as case:
        root = case / "mmlu"
        broken = []
        for part in ("dev", "test"):
            (root / part).mkdir(parents=True)
            for subject in MMLU_SUBJECTS:
                with (SHARED_DATA / "mmlu" / part / f"{subject}_{part}.csv").open(encoding="utf-8", newline="") as f:
                    rows = [row for _, row in zip(range(8), csv.reader(f))]
                rows = data.draw(mutated_tree(rows, max_mutations=2, root=False))
                out = io.StringIO()
                csv.writer(out).writerows([[_plain(v) for v in r] if isinstance(r, list) else [_plain(r)] for r in rows])
                target = root / part / f"{subject}_{part}.csv"
                target.write_bytes(data.draw(broken_bytes(out.getvalue().encode("utf-8"), long_lines=(300, 1 << 16))))
                broken.append(target.name)
        suite = case / "suite.yaml"
        ev = {"name": "mmlu", "kind": "multiple_choice", "data": "mmlu:mmlu", "split": split, "shots": shots,
              "subjects": MMLU_SUBJECTS, "metrics": ["acc"]}
        suite.write_text(yaml.safe_dump({"name": "fuzz", "model": "tiny-random-llama", "evals": [ev]}), encoding="utf-8")
        result = invoke("validate", suite)
        assert_clean("MMLU folder: csv broken", "validate", result, [str(suite)])
        names = [str(root), *broken, "mmlu:mmlu"]
        call_clean("MMLU folder: csv broken", "questions", lambda: questions.questions("mmlu:mmlu", split, case, MMLU_SUBJECTS),
                   names)
        call_clean("MMLU folder: csv broken", "fingerprint", lambda: mmlu.fingerprint("mmlu:mmlu", split, case), names)
        for subject in MMLU_SUBJECTS:
            call_clean("MMLU folder: csv broken", "shot_pool", lambda: questions.shot_pool("mmlu:mmlu", case, subject), names)


@FUZZ
@given(data=st.data(), split=st.sampled_from(["train", "test[1500:]", "train[:5]", "test[-3:]"]))
def test_parallel_text_files(tmp_path, data, split):
    """A translation pair (NTREX) with lines that no longer align, broken bytes, empty files."""
    if not (SHARED_DATA / "ntrex").is_dir():
        pytest.skip(f"no NTREX copy at {SHARED_DATA / 'ntrex'} (../shared/data)")
    with case_dir(tmp_path) as case:
        names = []
        for side in ("newstest2019-src.eng.txt", "newstest2019-ref.deu.txt"):
            with (SHARED_DATA / "ntrex" / side).open("rb") as f:
                lines = [next(f) for _ in range(ROWS)]
            lines = data.draw(mutated_tree(lines, max_mutations=1, root=False))
            text = b"".join(x if isinstance(x, bytes) else str(x).encode("utf-8", "replace") + b"\n" for x in lines)
            (case / side).write_bytes(data.draw(broken_bytes(text)))
            names.append(side)
        ref = f"parallel:{names[0]}|{names[1]}"
        ev = {"name": "mt", "data": ref, "split": split, "metrics": ["bleu"], "template": "{{source}} ||| {{target}}"}
        suite = case / "suite.yaml"
        suite.write_text(yaml.safe_dump({"name": "fuzz", "model": "tiny-random-llama", "evals": [ev]}), encoding="utf-8")
        result = invoke("validate", suite)
        assert_clean("parallel text: lines broken", "validate", result, [str(suite)])
        call_clean("parallel text: lines broken", "load_split", lambda: sources.load_split(ref, split, case), [*names, ref])
        call_clean("parallel text: lines broken", "fingerprint", lambda: sources.fingerprint(ref, split, case), [*names, ref])


def test_a_nan_cell_and_a_huge_number_survive_every_format(tmp_path):
    """Values JSON allows only by extension (NaN, Infinity) and integers past 64 bits load as values."""
    rows = [{"input": "a", "output": "b", "x": math.nan, "y": 10**30}, {"input": "c", "output": "d", "x": math.inf, "y": -1}]
    for suffix in (".jsonl", ".json"):
        path = tmp_path / f"odd{suffix}"
        path.write_bytes(serialize(rows, suffix, wrap=False))
        loaded = sources.load_split(path.name, "train", tmp_path)
        assert loaded[0]["y"] == 10**30 and math.isnan(loaded[0]["x"])
