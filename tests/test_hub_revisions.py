"""Hub references pinned with @REVISION and resolved to commits: the syntax, what reaches
the id and the loaders, and the note when no commit can be had.

The hub is never reached: a hub cache in tmp_path, laid out as huggingface_hub writes it
(models--ORG--NAME/refs/main holding a commit, snapshots/COMMIT/ its files), read offline
by huggingface_hub and transformers themselves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_SUITE

from harness import models
from harness.data import hub, sources
from harness.errors import HarnessError, SuiteError
from harness.suite.loading import load_suite
from harness.suite.plan import plan

SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40


class FakeHub:
    """A hub cache on disk: put() writes a ref and a snapshot folder, as a download would."""

    def __init__(self, root: Path):
        self.root = root

    def folder(self, kind: str, repo: str) -> Path:
        return self.root / f"{kind}s--{repo.replace('/', '--')}"

    def put(self, kind: str, repo: str, commit: str, ref: str | None = "main") -> Path:
        snapshot = self.folder(kind, repo) / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        if ref is not None:
            (self.folder(kind, repo) / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
            (self.folder(kind, repo) / "refs" / ref).write_text(commit)
        hub.forget()  # as a new process would: the answers kept from before are gone
        return snapshot


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """Offline, with HF_HOME and HF_HUB_CACHE in tmp_path. huggingface_hub reads the variables
    once, at import, so its constants (which transformers reads too) are set as well."""
    from huggingface_hub import constants

    home = tmp_path / "hf"
    cache = home / "hub"
    cache.mkdir(parents=True)
    for name, value in {"HF_HOME": str(home), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.forget()
    yield FakeHub(cache)
    hub.forget()


def hub_suite(model: str = "tiny-random-llama", train: str = "builtin:data2text", data: str = "hf:org/ds:cfg") -> str:
    return TINY_SUITE.replace("model: tiny-random-llama", f"model: {model}").replace(
        "  data: builtin:data2text\n  limit: 16", f"  data: {train}\n  limit: 16").replace(
        "    data: builtin:data2text\n    split: test", f"    data: {data}\n    split: test")


def ids(path) -> dict[tuple[str, str], str]:
    return {(v.model, v.name): v.id for v in plan(load_suite(path))}


def problems_of(path) -> dict[str, str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return {p.path: p.message for p in info.value.problems}


def test_revision_syntax_of_data_references():
    assert sources.parse_ref("hf:org/ds:cfg@v1.0") == sources.DataRef("hf", "org/ds", "cfg", "v1.0")
    assert sources.parse_ref("hf:org/ds@refs/pr/3") == sources.DataRef("hf", "org/ds", None, "refs/pr/3")
    assert sources.parse_ref("hf:org/ds") == sources.DataRef("hf", "org/ds", None, None)
    for bad, why in [("hf:org/ds@", "nothing follows '@'"), ("hf:org/ds@a b", "not a branch, tag or commit"),
                     ("hf:org/ds@a..b", "not a branch"), ("hf:org/ds:@v1", "malformed")]:
        with pytest.raises(HarnessError, match=why):
            sources.parse_ref(bad)
    with pytest.raises(HarnessError, match="built-in task .* has no revisions; write builtin:data2text"):
        sources.parse_ref("builtin:data2text@v1")
    with pytest.raises(HarnessError, match="d.jsonl is a local file, which has no revisions; remove @main"):
        sources.parse_ref("d.jsonl@main")
    assert sources.parse_ref("d@2024.jsonl").kind == "local"  # an "@" inside a file's name is the name's


def test_hub_data_is_pinned_to_its_commit_in_the_id_and_the_variant(fake_hub, write_suite):
    fake_hub.put("dataset", "org/ds", SHA1)
    path = write_suite(hub_suite())
    variants = plan(load_suite(path))
    assert {v.evals[0].data for v in variants} == {f"hf:org/ds:cfg@{SHA1}"}  # what the worker loads, and the record shows
    assert set(variants[0].fingerprints) == {f"hf:org/ds:cfg@{SHA1}|test"}
    assert sources.fingerprint("hf:org/ds:cfg", "test", Path(".")) == sources.fingerprint(f"hf:org/ds:cfg@{SHA1}", "test", Path("."))
    first = ids(path)
    assert ids(path) == first
    fake_hub.put("dataset", "org/ds", SHA2)  # the dataset changed on the hub: refs/main moved
    moved = ids(path)
    assert all(moved[k] != first[k] for k in first)
    assert ids(write_suite(hub_suite(data="hf:org/ds:cfg@main"))) == moved  # main named or meant: one commit, one id


def test_a_named_revision_resolves_through_its_own_ref(fake_hub, write_suite):
    fake_hub.put("dataset", "org/ds", SHA1)
    fake_hub.put("dataset", "org/ds", SHA2, ref="v2")
    variants = plan(load_suite(write_suite(hub_suite(train="hf:org/ds@v2"))))
    full = next(v for v in variants if v.name == "full")
    assert full.stages[0].data == f"hf:org/ds@{SHA2}" and full.evals[0].data == f"hf:org/ds:cfg@{SHA1}"
    assert set(full.fingerprints) == {f"hf:org/ds@{SHA2}|train", f"hf:org/ds:cfg@{SHA1}|test"}


def test_a_full_sha_is_its_own_commit_without_a_lookup(fake_hub, write_suite, monkeypatch):
    def no_lookup(*args):
        raise AssertionError(f"looked up {args}")

    fake_hub.put("dataset", "org/ds", SHA1)
    monkeypatch.setattr(hub, "_lookup", no_lookup)
    pinned = f"hf:org/ds:cfg@{SHA3}"
    assert sources.pinned(pinned) == pinned
    variants = plan(load_suite(write_suite(hub_suite(model=f"org/model@{SHA2}", data=pinned))))
    assert {v.evals[0].data for v in variants} == {pinned}
    assert {v.model for v in variants} == {f"org/model@{SHA2}"} and {v.model_commit for v in variants} == {SHA2}


def test_hub_model_commit_is_in_the_id_and_follows_the_hub(fake_hub, write_suite):
    fake_hub.put("model", "org/model", SHA1)
    fake_hub.put("dataset", "org/ds", SHA3)
    path = write_suite(hub_suite(model="[tiny-random-llama, org/model]"))
    variants = plan(load_suite(path))
    assert {v.model_commit for v in variants if v.model == "org/model"} == {SHA1}
    assert {v.model_commit for v in variants if v.model == "tiny-random-llama"} == {None}
    first = ids(path)
    fake_hub.put("model", "org/model", SHA2)
    moved = ids(path)
    for (model, name), vid in first.items():
        assert (moved[(model, name)] != vid) == (model == "org/model"), (model, name)


def test_hub_lookups_are_kept_and_suites_without_hub_references_make_none(fake_hub, write_suite, monkeypatch):
    asked = []
    real = hub._lookup
    monkeypatch.setattr(hub, "_lookup", lambda *args: asked.append(args) or real(*args))
    plan(load_suite(write_suite(TINY_SUITE)))
    assert asked == []
    fake_hub.put("dataset", "org/ds", SHA1)
    path = write_suite(hub_suite(model="org/model", train="hf:org/ds:cfg"))
    for _ in range(3):
        plan(load_suite(path))
    assert sorted(asked) == [("dataset", "org/ds", None), ("model", "org/model", None)]  # once each


def test_the_hubs_answer_comes_first_and_its_cache_stands_in_when_unreachable(fake_hub, monkeypatch):
    from huggingface_hub import HfApi, constants

    fake_hub.put("dataset", "org/ds", SHA1)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    asked = []

    def answer(self, repo_id, revision=None, timeout=None):
        asked.append((repo_id, revision))
        return type("Info", (), {"sha": SHA2})()

    monkeypatch.setattr(HfApi, "dataset_info", answer)
    assert hub.resolve("dataset", "org/ds", "v1") == hub.Resolved(SHA2, "hub") and asked == [("org/ds", "v1")]

    def unreachable(self, repo_id, revision=None, timeout=None):
        raise OSError("network is unreachable")

    monkeypatch.setattr(HfApi, "dataset_info", unreachable)
    hub.forget()
    assert hub.resolve("dataset", "org/ds", None) == hub.Resolved(SHA1, "local hub cache")
    missing = hub.resolve("dataset", "org/other", None)
    assert missing.commit is None and "the hub did not answer (OSError)" in missing.source


def test_unresolvable_hub_references_keep_their_ids_and_are_noted(fake_hub, write_suite):
    path = write_suite(hub_suite(model="[tiny-random-llama, org/some-model]", train="hf:org/train-set",
                                 data="hf:org/eval-set:cfg"))
    # Computed by the harness before hub references were resolved (copied from its output).
    assert ids(path) == {
        ("tiny-random-llama", "baseline"): "baseline-add5b49027", ("tiny-random-llama", "full"): "full-996898b874",
        ("tiny-random-llama", "lora-r4"): "lora-r4-9ab6b8116c", ("org/some-model", "baseline"): "baseline-0653a4da8f",
        ("org/some-model", "full"): "full-2a2dd2273e", ("org/some-model", "lora-r4"): "lora-r4-2e9f8efb2b"}
    variants = plan(load_suite(path))
    assert {v.evals[0].data for v in variants} == {"hf:org/eval-set:cfg"} and {v.model_commit for v in variants} == {None}
    notes = [n for n in load_suite(path).notes if "not pinned to a commit" in n]
    assert [n.split(":")[0] for n in notes] == ["model[1]", "train.data", "evals[0].data"]
    assert "offline, and the hub cache has no" in notes[0] and "pin it as org/some-model@COMMIT_SHA" in notes[0]
    assert "pin it as hf:org/eval-set:cfg@COMMIT_SHA" in notes[2]
    fake_hub.put("dataset", "org/eval-set", SHA1)
    assert not any("org/eval-set" in n and "not pinned" in n for n in load_suite(path).notes)


def test_a_revision_on_a_builtin_or_local_model_or_data_is_a_problem(write_suite, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "d.jsonl").write_text('{"input": "a", "output": "b"}\n')
    found = problems_of(write_suite(hub_suite(model="[tiny-random-llama@v1, ./m@main, org/model@bad..rev]",
                                              train="builtin:data2text@v1", data="d.jsonl@main")))
    assert "'tiny-random-llama' is a built-in model, built in-process: it has no revisions" in found["model[0]"]
    assert f"{tmp_path / 'm'} is a local folder, which has no revisions; remove @main" in found["model[1]"]
    assert "'bad..rev' after '@' is not a branch, tag or commit sha" in found["model[2]"]
    assert "built-in task is generated by the harness and has no revisions" in found["train.data"]
    assert "d.jsonl is a local file, which has no revisions; remove @main" in found["evals[0].data"]
    (tmp_path / "m@v1").mkdir()  # a folder whose name holds "@" is that folder
    (tmp_path / "m@v1" / "config.json").write_text("{}")
    assert models.classify("m@v1", tmp_path) == "local" and models.revision_problem("m@v1", tmp_path) is None


def test_the_revision_reaches_load_dataset(monkeypatch, tmp_path):
    import datasets

    calls = []

    def fake_load(name, config, split, **kwargs):
        calls.append((name, config, split, kwargs))
        return datasets.Dataset.from_list([{"input": "a", "output": "b"}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    sources.load_split(f"hf:org/ds:cfg@{SHA1}", "train", tmp_path)
    sources.load_split("hf:org/ds", "train", tmp_path)
    assert calls == [("org/ds", "cfg", "train", {"revision": SHA1}), ("org/ds", None, "train", {})]


def test_a_hub_model_loads_from_the_cache_at_its_revision(fake_hub, tmp_path, write_suite):
    from harness.models.tiny import tiny_random_llama

    model, tokenizer = tiny_random_llama()
    main = fake_hub.put("model", "org/tiny", SHA1)
    model.save_pretrained(main)
    tokenizer.save_pretrained(main)
    other = fake_hub.put("model", "org/tiny", SHA2, ref="v2")
    shutil.copytree(main, other, dirs_exist_ok=True)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 0.5}))  # what tells the commits apart

    loaded, _ = models.load("org/tiny", tmp_path)
    assert loaded.config.rms_norm_eps != 0.5  # the default branch: main's commit
    at_v2, tok = models.load("org/tiny@v2", tmp_path)
    assert at_v2.config.rms_norm_eps == 0.5 and tok.pad_token_id is not None
    assert models.load("org/tiny", tmp_path, revision=SHA2)[0].config.rms_norm_eps == 0.5  # a plan's pinned commit
    assert models.family(f"org/tiny@{SHA2}", tmp_path) == "causal"
    assert models.has_chat_template("org/tiny", tmp_path, revision=SHA1) is False  # read from the cached snapshot
    variants = plan(load_suite(write_suite(hub_suite(model="org/tiny@v2", data="builtin:data2text"))))
    assert {v.model_commit for v in variants} == {SHA2} and {v.model for v in variants} == {"org/tiny@v2"}
