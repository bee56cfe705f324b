"""`harness run --dry-run` (click's CliRunner, the tiny suite): every planned variant with its
id, what would run and what would be skipped and why, read from records written through the
store; and nothing in the results folder is created, changed or locked."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main
from harness.records.store import variant_dir, write_record
from harness.run.outcome import new_record
from harness.suite.loading import load_suite
from harness.suite.plan import plan


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _tree(folder):
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def test_dry_run_says_what_would_run_and_touches_nothing(write_suite, tmp_path):
    suite = write_suite(TINY_SUITE)
    results = tmp_path / "results"
    variants = {v.name: v for v in plan(load_suite(suite))}

    fresh = invoke("run", str(suite), "--results", str(results), "--dry-run")
    assert fresh.exit_code == 0, fresh.output
    for v in variants.values():
        assert f"run   {v.label()}" in fresh.output and v.id in fresh.output
    assert "3 would run, 0 would be skipped" in fresh.output
    assert not results.exists()  # not even the folder

    ok = new_record(variants["baseline"], status="ok", finished_at="2026-01-02T03:04:05+00:00")
    write_record(variant_dir(results, "tiny", variants["baseline"].id), ok)
    failed = new_record(variants["full"], status="failed", error="FloatingPointError: loss became nan at step 2")
    write_record(variant_dir(results, "tiny", variants["full"].id), failed)
    before = _tree(results)

    again = invoke("run", str(suite), "--results", str(results), "--dry-run", "--set", "train.steps=2")
    assert again.exit_code == 0, again.output
    lines = {line.split()[1]: line for line in again.output.splitlines() if line.startswith(("run", "skip"))}
    assert lines["baseline"].startswith("skip") and "ok record of 2026-01-02T03:04:05" in lines["baseline"]
    assert lines["full"].startswith("run") and "says failed (FloatingPointError: loss became nan" in lines["full"]
    assert lines["lora-r4"].startswith("run") and "no record yet" in lines["lora-r4"]
    assert "GPU memory" in lines["full"]
    forced = invoke("run", str(suite), "--results", str(results), "--dry-run", "--force")
    assert "--force: its ok record is replaced" in forced.output
    assert _tree(results) == before  # no suite copy, no lock, no temp sweep, no record touched
