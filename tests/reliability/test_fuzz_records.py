"""Fuzzing the commands that read records alone, `report`, `score`, `baseline` and `check`,
with one file of a real results folder corrupted: a record.json, a predictions file, the
suite's copy beside the records, or the baseline file. Values of other types, keys removed
or added, huge numbers and NaN, broken JSON, non-UTF-8 bytes, empty files.

Every case ends with exit 0 or 2 (check: 1 too, its verdict on a regression or a variant
that cannot be compared), and a 2 names the broken file; one unreadable record among good
ones is a warning naming it, with the rest of the leaderboard built.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from fuzzing import FUZZ, assert_clean, case_dir, invoke
from hypothesis import given
from hypothesis import strategies as st
from mutations import broken_bytes, broken_text, mutated_tree
from smoke_records import smoke_results

from harness.records.store import read_record


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, Path]:
    """The smoke records and a baseline of them written by `harness baseline`, made once."""
    folder = smoke_results(tmp_path_factory.mktemp("records"))
    assert [read_record(path).status for path in folder.glob("*/record.json")].count("ok") >= 3  # real records read
    baseline = folder.parent / "baseline.json"
    result = invoke("baseline", folder, "--out", baseline)
    assert result.exit_code == 0, result.output
    return folder, baseline


# What can be broken, the files of each kind, and the commands that read it.
REPORT = ["report md", "report html", "report csv", "report json"]
CHECK = ["check", "check --allow-missing"]
KINDS = {
    "record": ("*/record.json", [*REPORT, *CHECK, "baseline", "score"]),
    "predictions": ("*/predictions/*.jsonl", [*REPORT, *CHECK, "baseline", "score"]),
    "suite copy": ("suite.yaml", [*REPORT, *CHECK, "baseline"]),
    "baseline": (None, CHECK),  # the file beside the results folder, as CI keeps it
}


def corrupt(path: Path, how: str, draw) -> None:
    """Break one JSON, JSON-lines or YAML file: its tree, its text or its bytes."""
    raw = path.read_bytes()
    if how == "tree" and path.suffix == ".yaml":  # the suite's copy: its check: block and the rest
        tree = draw(mutated_tree(yaml.safe_load(raw.decode("utf-8")), max_mutations=3))
        raw = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False).encode("utf-8")
    elif how == "tree" and path.suffix in (".json", ".jsonl"):
        text = raw.decode("utf-8")
        if path.suffix == ".jsonl":
            rows = draw(mutated_tree([json.loads(line) for line in text.splitlines()], max_mutations=3, root=False))
            raw = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (rows if isinstance(rows, list) else [rows]))\
                .encode("utf-8")
        else:
            raw = json.dumps(draw(mutated_tree(json.loads(text), max_mutations=3)), ensure_ascii=False).encode("utf-8")
    elif how == "text":
        raw = draw(broken_text(raw.decode("utf-8"), max_mutations=2)).encode("utf-8")
    else:
        raw = draw(broken_bytes(raw))
    path.write_bytes(raw)


def unreadable_record(path: Path) -> bool:
    if path.name != "record.json":
        return False
    try:
        read_record(path)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("kind", sorted(KINDS))
@FUZZ
@given(data=st.data(), how=st.sampled_from(["tree", "tree", "text", "bytes"]))
def test_one_corrupted_file(tmp_path, pristine, kind, data, how):
    """One file broken, one command that reads it run: a clear error naming the file, or a
    warning naming it with the rest done (an unreadable record among good ones is left out, said)."""
    source, baseline = pristine
    pattern, commands = KINDS[kind]
    with case_dir(tmp_path) as case:
        folder = case / source.name
        shutil.copytree(source, folder)
        shutil.copyfile(baseline, case / baseline.name)
        target = case / baseline.name if pattern is None else data.draw(st.sampled_from(sorted(folder.glob(pattern))))
        command = data.draw(st.sampled_from(commands))
        corrupt(target, how, data.draw)
        verb, _, option = command.partition(" ")
        if verb == "report":
            args = ["report", folder, "--format", option, "--out", case / f"board.{option}"]
        elif verb == "check":
            args = ["check", folder, "--baseline", case / baseline.name, *option.split()]
        elif verb == "baseline":
            args = ["baseline", folder, "--out", case / "new-baseline.json"]
        else:
            args = ["score", folder]
        result = invoke(*args)
        names = [str(target), target.name if target.name not in ("record.json", "suite.yaml") else str(target.parent)]
        assert_clean(f"records: one {kind} broken", command, result, names, codes=(0, 1, 2) if verb == "check" else (0, 2))
        if unreadable_record(target):
            # one bad record among good ones: a warning naming it, and the work done without it
            assert result.exit_code in (0, 1) and str(target) in result.output, result.output
        if verb == "report" and unreadable_record(target):
            board = (case / f"board.{option}").read_text(encoding="utf-8")
            others = [read_record(path).name for path in source.glob("*/record.json") if path.parent.name != target.parent.name]
            assert others and all(name in board for name in others), board[:2000]


@FUZZ
@given(data=st.data(), how=st.sampled_from(["tree", "text", "bytes"]))
def test_every_record_corrupted_at_once(tmp_path, pristine, data, how):
    """Every record mutated at once, often none left readable: report, score, baseline and
    check each end cleanly, and say so naming the folder."""
    source, baseline = pristine
    with case_dir(tmp_path) as case:
        folder = case / source.name
        shutil.copytree(source, folder)
        for record in sorted(folder.glob("*/record.json")):
            corrupt(record, how, data.draw)
        for args, codes in ((["report", folder, "--format", "md"], (0, 2)), (["score", folder], (0, 2)),
                            (["baseline", folder, "--out", case / "b.json"], (0, 2)),
                            (["check", folder, "--baseline", baseline], (0, 1, 2))):
            result = invoke(*args)
            assert_clean("records: every record mutated", str(args[0]), result, [str(folder)], codes=codes)
