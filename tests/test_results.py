"""Records: atomic writes, what counts as done, and the per-variant lock."""

from __future__ import annotations

import json

import pytest

from harness.records.schema import Cost, Record
from harness.records.store import Busy, existing_ok, locked, read_record, write_json_atomic, write_record


def record(status: str) -> Record:
    return Record(suite="s", variant_id="v-1", name="v", model="m", method="lora", params={"r": 4}, seed=0, status=status)


def test_write_is_atomic_and_round_trips(tmp_path):
    write_record(tmp_path, record("ok"))
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temp file left behind
    assert read_record(tmp_path / "record.json") == record("ok")


def test_training_cost_figures_round_trip_and_older_records_still_load(tmp_path):
    cost = Cost(trainable_params=100, total_params=1000, tokens_per_second=50.0, flops_per_token=27060.0,
                train_flops=2.7e9, flops_per_second=1.35e6, flops_formula="4N + 2T + 12·L·h·s (L=2, h=64, s=15.0)",
                mfu=0.0125, peak_flops=1.08e8, peak_source="probe: Some CPU 2 threads fp32, measured 2026-01-01")
    write_record(tmp_path, record("ok").model_copy(update={"cost": cost}))
    assert read_record(tmp_path / "record.json").cost == cost
    # a record written before these fields existed
    old = json.loads((tmp_path / "record.json").read_text())
    old["cost"] = {"trainable_params": 100, "total_params": 1000, "tokens_per_second": 50.0}
    (tmp_path / "record.json").write_text(json.dumps(old))
    loaded = read_record(tmp_path / "record.json").cost
    assert loaded.tokens_per_second == 50.0 and loaded.mfu is None and loaded.train_flops is None and loaded.peak_source is None


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_json_atomic(tmp_path / "x.json", {"a": 1})

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr("harness.records.store.os.replace", crash)
    with pytest.raises(OSError):
        write_json_atomic(tmp_path / "x.json", {"a": 2})
    assert (tmp_path / "x.json").read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # the temp file is cleaned up


def test_only_ok_records_count_as_done(tmp_path):
    assert existing_ok(tmp_path) is None
    write_record(tmp_path, record("failed"))
    assert existing_ok(tmp_path) is None
    write_record(tmp_path, record("ok"))
    assert existing_ok(tmp_path).status == "ok"
    (tmp_path / "record.json").write_text("{ truncated")
    assert existing_ok(tmp_path) is None


def test_lock_refuses_a_second_holder(tmp_path):
    with locked(tmp_path):
        with pytest.raises(Busy):
            with locked(tmp_path):
                pass
    with locked(tmp_path):  # released
        pass


def test_number_lists_are_compact_and_strings_untouched(tmp_path):
    obj = {"curve": [[1, 2.5], [2, -1e-05]], "text": "keep [1,  2] as written\n", "names": ["a", "b"]}
    write_json_atomic(tmp_path / "x.json", obj)
    text = (tmp_path / "x.json").read_text()
    assert "[1, 2.5]" in text and "keep [1,  2] as written" in text
    assert json.loads(text) == obj


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os

    from harness.records.store import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "page.html", "<!doctype html>")
    finally:
        os.umask(old)
    assert (tmp_path / "page.html").stat().st_mode & 0o777 == 0o644  # readable by a web server or a colleague
