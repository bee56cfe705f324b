"""`harness ls results [DIR]` and `--json` (click's CliRunner): each suite's variants with
status and age, from records written through the store (ok, failed, one replaced by a newer
record), a folder a live process holds (this test's own pid, as a run writes it) and one a
stopped run left; and the registries as JSON."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main
from harness.records.store import HOLDER, variant_dir, write_record, write_suite_copy
from harness.run.outcome import new_record
from harness.suite.loading import load_suite
from harness.suite.plan import plan


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _ago(**delta) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).isoformat(timespec="milliseconds")


def test_ls_results_lists_every_variant_with_status_and_age(write_suite, tmp_path):
    variants = {v.name: v for v in plan(load_suite(write_suite(TINY_SUITE)))}
    results = tmp_path / "results"
    suite_dir = results / "tiny"
    write_suite_copy(suite_dir, TINY_SUITE)
    write_record(variant_dir(results, "tiny", variants["baseline"].id),
                 new_record(variants["baseline"], status="ok", finished_at=_ago(hours=3)))
    write_record(variant_dir(results, "tiny", variants["full"].id),
                 new_record(variants["full"], status="failed", error="FloatingPointError: loss became nan\nat step 2",
                            finished_at=_ago(minutes=5)))
    older = variants["lora-r4"].model_copy(update={"id": "lora-r4-0000000000"})  # the same variant before an edit
    write_record(variant_dir(results, "tiny", older.id), new_record(older, status="ok", finished_at=_ago(days=3)))
    write_record(variant_dir(results, "tiny", variants["lora-r4"].id),
                 new_record(variants["lora-r4"], status="ok", finished_at=_ago(seconds=30)))
    running = suite_dir / "ia3-1111111111"
    running.mkdir()
    since = (datetime.now() - timedelta(minutes=4)).strftime("%Y-%m-%d %H:%M:%S")
    (running / HOLDER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}))
    stopped = suite_dir / "prompt-2222222222"
    stopped.mkdir()
    (stopped / "variant.json").write_text("{}")
    (stopped / HOLDER).write_text(json.dumps({"pid": 2**22 + 1, "host": socket.gethostname(), "since": since}))

    text = invoke("ls", "results", str(results))
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].startswith(f"{suite_dir}  (suite tiny: ") and "1 failed" in lines[0] and "2 ok" in lines[0]
    assert "1 stale" in lines[0] and "1 running" in lines[0] and "1 unfinished" in lines[0]
    assert "3 h ago" in next(v for v in lines if variants["baseline"].id in v)
    failed = next(v for v in lines if variants["full"].id in v)
    assert failed.split()[0] == "failed" and "5 min ago" in failed and failed.endswith("FloatingPointError: loss became nan")
    assert next(v for v in lines if "lora-r4-0000000000" in v).split()[0] == "stale"
    assert next(v for v in lines if variants["lora-r4"].id in v).split()[0] == "ok"
    assert next(v for v in lines if "ia3-1111111111" in v).split()[0] == "running"
    assert "4 min ago" in next(v for v in lines if "ia3-1111111111" in v)
    assert next(v for v in lines if "prompt-2222222222" in v).split()[0] == "unfinished"

    data = json.loads(invoke("ls", "results", str(results), "--json").output)
    (suite,) = data
    assert suite["suite"] == "tiny" and suite["counts"] == {"ok": 2, "failed": 1, "stale": 1, "running": 1, "unfinished": 1}
    ok = next(v for v in suite["variants"] if v["variant_id"] == variants["baseline"].id)
    assert ok["status"] == "ok" and ok["method"] == "baseline" and 3 * 3600 - 60 < ok["age_seconds"] < 3 * 3600 + 60
    # a suite folder named directly lists just that suite
    assert json.loads(invoke("ls", "results", str(suite_dir), "--json").output)[0]["folder"] == str(suite_dir)


def test_ls_results_says_what_is_missing(tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    assert "no suites yet" in invoke("ls", "results", str(empty)).output
    missing = invoke("ls", "results", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no such folder" in missing.output
    extra = invoke("ls", "methods", str(tmp_path))
    assert extra.exit_code == 2 and "takes no folder" in extra.output


def test_ls_registries_as_json():
    methods = json.loads(invoke("ls", "methods", "--json").output)
    lora = next(m for m in methods if m["name"] == "lora")
    assert lora["origin"] == "harness" and "r=8" in lora["params"] and lora["help"]
    metrics = {m["name"] for m in json.loads(invoke("ls", "metrics", "--json").output)}
    assert {"rouge1", "bleu", "acc"} <= metrics


def test_shell_completion_completes_commands_and_choices():
    """The README's completion line: click's bash script, then what Tab offers after `harness ls `."""
    script = CliRunner().invoke(main, [], env={"_HARNESS_COMPLETE": "bash_source"}, prog_name="harness")
    assert script.exit_code == 0 and "complete -o nosort -F _harness_completion harness" in script.output
    offered = CliRunner().invoke(main, [], prog_name="harness",
                                 env={"_HARNESS_COMPLETE": "bash_complete", "COMP_WORDS": "harness ls ", "COMP_CWORD": "2"})
    choices = {line.split(",", 1)[1] for line in offered.output.splitlines()}
    assert {"methods", "metrics", "results"} <= choices
