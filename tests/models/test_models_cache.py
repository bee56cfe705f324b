"""The model cache (harness/models/cache.py) with a small fake build: where it lives, that
it builds once, and that every kind of damage is caught and repaired. Fast: no real model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from harness.models import cache

NAME = "fake-model"
SOURCE = {"package": "fake", "version": "1.0"}


class FakeBuild:
    """Writes a 4 KB safetensors file and a config; counts its calls."""

    def __init__(self, source=SOURCE, fail=False):
        self.calls = 0
        self.source = source
        self.fail = fail

    def __call__(self, folder: Path) -> dict:
        self.calls += 1
        save_file({"weight": np.arange(1024, dtype=np.float32)}, str(folder / "model.safetensors"))
        (folder / "config.json").write_text('{"hidden": 4}', encoding="utf-8")
        if self.fail:
            raise RuntimeError("conversion failed")
        return {"id": self.source, "sha256": "abc"}


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "hc"))
    return tmp_path / "hc" / "models" / NAME


def test_root_follows_harness_cache_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    monkeypatch.setenv("HOME", str(tmp_path / "c"))
    assert cache.model_dir("m") == tmp_path / "a" / "models" / "m"
    monkeypatch.delenv("HARNESS_CACHE")
    assert cache.model_dir("m") == tmp_path / "b" / "harness" / "models" / "m"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.model_dir("m") == tmp_path / "c" / ".cache" / "harness" / "models" / "m"


def test_builds_once_then_reuses(cache_env):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    assert folder == cache_env and build.calls == 1
    manifest = json.loads((folder / cache.MANIFEST).read_text())
    assert manifest["source_id"] == SOURCE
    assert set(manifest["files"]) == {"model.safetensors", "config.json"}
    assert manifest["files"]["config.json"]["size"] == 13
    assert "transformers" in manifest
    assert cache.ensure(NAME, build, source=SOURCE) == folder
    assert cache.ensure(NAME, build, source=None, verify=True) == folder  # no source at hand: not compared
    assert build.calls == 1
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [NAME]  # no temp folders left


def _damage_and_expect_rebuild(folder, build, caplog, expected_reason, verify=False):
    caplog.set_level(logging.INFO, logger="harness.models.cache")
    assert expected_reason in cache.problem(folder, SOURCE, verify=verify)
    cache.ensure(NAME, build, source=SOURCE, verify=verify)
    assert build.calls == 2
    assert cache.problem(folder, SOURCE, verify=True) is None
    assert load_file(str(folder / "model.safetensors"))["weight"][-1] == 1023
    assert any("rebuilding" in r.message and expected_reason in r.message for r in caplog.records)


def test_truncated_weights_are_rebuilt(cache_env, caplog):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _damage_and_expect_rebuild(folder, build, caplog, "truncated")


def test_missing_manifest_is_rebuilt(cache_env, caplog):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    (folder / cache.MANIFEST).unlink()
    _damage_and_expect_rebuild(folder, build, caplog, "no manifest")


def test_missing_file_and_garbled_manifest_are_rebuilt(cache_env, caplog):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    (folder / "config.json").unlink()
    _damage_and_expect_rebuild(folder, build, caplog, "config.json is missing")
    (folder / cache.MANIFEST).write_text("{not json")
    assert "unreadable manifest" in cache.problem(folder)


def test_same_size_header_damage_is_caught_without_hashing(cache_env, caplog):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[0:8] = (len(data) * 2).to_bytes(8, "little")  # header length past the end
    weights.write_bytes(bytes(data))
    _damage_and_expect_rebuild(folder, build, caplog, "header")


def test_flipped_weight_byte_needs_verify(cache_env, caplog):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert cache.problem(folder, SOURCE) is None  # sizes and header still agree
    _damage_and_expect_rebuild(folder, build, caplog, "sha256", verify=True)


def test_changed_source_is_rebuilt(cache_env):
    build = FakeBuild()
    folder = cache.ensure(NAME, build, source=SOURCE)
    newer = {"package": "fake", "version": "2.0"}
    assert "the source is now" in cache.problem(folder, newer)
    cache.ensure(NAME, FakeBuild(source=newer), source=newer)
    assert json.loads((folder / cache.MANIFEST).read_text())["source_id"] == newer


def test_failed_build_keeps_the_old_cache_and_leaves_no_debris(cache_env):
    folder = cache.ensure(NAME, FakeBuild(), source=SOURCE)
    cache.invalidate(NAME)
    (folder.parent / f".{NAME}.building-killed").mkdir()  # a build killed earlier
    with pytest.raises(RuntimeError, match="conversion failed"):
        cache.ensure(NAME, FakeBuild(fail=True), source=SOURCE)
    assert (folder / "model.safetensors").is_file()  # the old folder was not touched
    assert sorted(p.name for p in folder.parent.iterdir() if p.is_dir()) == [NAME]
    build = FakeBuild()
    cache.ensure(NAME, build, source=SOURCE)
    assert build.calls == 1 and cache.problem(folder, SOURCE) is None
