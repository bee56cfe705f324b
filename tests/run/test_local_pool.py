"""The local executor's pool: slots planned from GPUs, jobs and cores; children run side by
side, a freed slot goes to the next variant; a child killed by a real SIGKILL, and one
stopped by the timeout, are each one failed record with the tail of their log while the
others finish.

How it starts what it needs: `harness run` as the real CLI (in-process through CliRunner, or
as a subprocess when the test must signal its children); every variant runs in a real
child process: forked by the fork server on CPU slots, `python -m harness.run.worker` on GPU slots. On this GPU-less machine `--gpus 0,1` stands in for
two GPUs: each child gets its own CUDA_VISIBLE_DEVICES, sees no GPU, trains on the CPU and
records the slot it was given.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import HarnessError
from harness.records.store import read_record
from harness.run.slots import ALLOCATOR_HEADROOM, CONTEXT_BYTES, CpuPool, Gpu, GpuPool, Slot, parse_gpus, plan_pool, visible_gpus

SUITE = """\
name: pool
model: tiny-random-llama
train:
  data: builtin:data2text
  limit: 16
  steps: {steps}
  batch_size: 2
  max_length: 128
  precision: fp32
seeds: [0]
methods:
{methods}
evals:
  - name: d2t
    data: builtin:data2text
    split: test
    limit: 4
    max_new_tokens: 4
    metrics: [rouge1]
"""


def placed(pool: GpuPool, needs: list[int | None], count: int = 1) -> list[str | None]:
    """Where each variant in turn lands (None: it waits), nothing released in between."""
    return [(slot.name if (slot := pool.place(need, count)) else None) for need in needs]


def test_gpu_pool_follows_gpus_jobs_and_memory(monkeypatch):
    GiB = 2**30
    # memory unknown: one variant per GPU, the next waits until one frees
    pool = plan_pool(["0", "2"])
    first, second = pool.place(None), pool.place(None)
    assert (first.name, second.name, pool.place(None)) == ("cuda:0", "cuda:2", None)
    pool.release(second)
    assert pool.place(None).env == {"CUDA_VISIBLE_DEVICES": "2"}
    # more jobs than GPUs: several per GPU, spread, capped at N
    assert placed(plan_pool(["0", "1"], jobs=3), [None] * 4) == ["cuda:0", "cuda:1", "cuda:0", None]
    assert placed(plan_pool(["0", "1", "2"], jobs=1), [None, None]) == ["cuda:0", None]
    # memory known: variants share a GPU while their estimates (plus 10% and a CUDA context each) fit
    pool = plan_pool(["0"], memory=10 * GiB)
    assert placed(pool, [3 * GiB, 3 * GiB, 3 * GiB]) == ["cuda:0", "cuda:0", None]  # 3 x (3.3 GiB + 0.59) > 10 GiB
    assert pool.gpus[0].planned == 2 * (int(3 * GiB * ALLOCATOR_HEADROOM) + CONTEXT_BYTES)
    # the fewest-loaded GPU first; an unknown need takes a GPU whole; a too-large one runs alone
    pool = GpuPool([Gpu("0", 10 * GiB), Gpu("1", 10 * GiB)])
    assert placed(pool, [GiB, GiB, None, GiB]) == ["cuda:0", "cuda:1", None, "cuda:0"]
    pool = GpuPool([Gpu("0", 10 * GiB), Gpu("1", 10 * GiB)])
    assert placed(pool, [None, GiB, 50 * GiB, GiB]) == ["cuda:0", "cuda:1", None, "cuda:1"]
    # a variant on two GPUs holds both; released, both are free again
    pool = GpuPool([Gpu("0", 10 * GiB), Gpu("1", 10 * GiB), Gpu("2", 10 * GiB)])
    pair = pool.place(2 * GiB, count=2)
    assert pair.name == "cuda:0,1" and pair.env == {"CUDA_VISIBLE_DEVICES": "0,1"}
    trio = pool.place(2 * GiB, count=3)  # beside the pair, with room: the idle GPU first
    assert trio.name == "cuda:2,0,1" and [g.jobs for g in pool.gpus] == [2, 2, 1]
    pool.release(pair)
    pool.release(trio)
    assert [g.jobs for g in pool.gpus] == [0, 0, 0] and [g.planned for g in pool.gpus] == [0, 0, 0]
    with pytest.raises(HarnessError, match="asks for 4 GPUs"):
        pool.place(GiB, count=4)
    # no GPU: one slot with every core, or N slots sharing them
    assert plan_pool([], cores=8).slots == [Slot("cpu")]
    four = plan_pool([], jobs=4, cores=8).slots
    assert [s.threads for s in four] == [2, 2, 2, 2] and four[0].env["HARNESS_THREADS"] == "2"
    assert [s.threads for s in plan_pool([], jobs=3, cores=2).slots] == [1, 1, 1]  # never zero threads
    with pytest.raises(HarnessError, match="at least one"):
        plan_pool([], jobs=0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"] and [g.id for g in plan_pool().gpus] == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == [] and isinstance(plan_pool(), CpuPool)
    assert parse_gpus("0, 2") == ["0", "2"]
    for bad in ("a", "0,0", "", "1,-1"):
        with pytest.raises(HarnessError, match="--gpus"):
            parse_gpus(bad)


def test_a_variant_wider_than_the_run_is_bad_input(write_suite, tmp_path):
    methods = "  - {name: wide, method: full, resources: {gpus: 3}}\n"
    result = CliRunner().invoke(main, ["run", str(write_suite(SUITE.format(steps=1, methods=methods))),
                                       "--results", str(tmp_path / "r"), "--gpus", "0,1"])
    assert result.exit_code == 2
    assert "1 variant(s) ask for more GPUs than this run has (2): wide (resources.gpus: 3)" in result.output
    assert not (tmp_path / "r" / "pool").exists() or not list((tmp_path / "r" / "pool").glob("*/record.json"))


def records(folder: Path) -> dict:
    return {r.name: r for r in (read_record(p) for p in folder.glob("*/record.json"))}


@pytest.mark.slow
def test_two_slots_run_side_by_side_and_a_freed_slot_takes_the_next_variant(write_suite, tmp_path, monkeypatch):
    from harness.cli.suite_commands import _BoardView
    from harness.run import local

    monkeypatch.setattr(_BoardView, "PLAIN_EVERY", 0.0)  # every board the run yields, printed (not a terminal)
    monkeypatch.setattr(local, "BOARD_SECONDS", 0.3)  # often enough to catch a tiny model training
    methods = "  - {name: full, method: full}\n  - {name: lora, method: lora, params: {r: 4}}\n"
    suite = write_suite(SUITE.format(steps=60, methods=methods))
    result = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--gpus", "0,1"])
    assert result.exit_code == 0, result.output
    assert "3 variant(s) on 2 GPU(s) (cuda:0, cuda:1)" in result.output
    found = records(tmp_path / "r" / "pool")
    base, full, lora = found["baseline"], found["full"], found["lora"]
    assert all(r.status == "ok" for r in found.values())
    assert {base.env["slot"], full.env["slot"]} == {"cuda:0", "cuda:1"}
    assert {base.env["cuda_visible_devices"], full.env["cuda_visible_devices"]} == {"0", "1"}
    # the first two ran at the same time
    assert base.started_at < full.finished_at and full.started_at < base.finished_at
    # the third waited for a slot and took the one that freed first
    first = min((base, full), key=lambda r: r.finished_at)
    assert lora.env["slot"] == first.env["slot"] and lora.started_at >= first.finished_at
    for r in found.values():
        assert (tmp_path / "r" / "pool" / r.variant_id / "log.txt").stat().st_size > 0
    # the board: the running variants with their slot and step, read from their progress files
    assert re.search(r"\.\.\. [12] running, [01] waiting", result.output), result.output
    assert re.search(r"  (full|lora) \[cuda:[01]\] step \d+/60 loss \d+\.\d{4} \d+ tok/s", result.output), result.output


@pytest.mark.slow
def test_variants_share_a_gpu_while_their_memory_estimates_fit(write_suite, tmp_path):
    """One stand-in GPU of 10 GiB: the baseline and two small LoRA variants (estimates of a few
    MB each, plus a CUDA context) run on it at once; one stating 9 GiB waits until it has the
    GPU to itself."""
    methods = ("  - {name: a, method: lora, params: {r: 4}}\n  - {name: b, method: lora, params: {r: 2}}\n"
               "  - {name: big, method: lora, params: {r: 8}, resources: {gpu_memory: 9GiB}}\n")
    suite = write_suite(SUITE.format(steps=3, methods=methods))
    result = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--gpus", "0",
                                       "--gpu-memory", "10GiB"])
    assert result.exit_code == 0, result.output
    assert "4 variant(s) on 1 GPU(s) (cuda:0), packed by memory (10 GiB each)" in result.output
    found = records(tmp_path / "r" / "pool")
    small = [found["baseline"], found["a"], found["b"]]
    # The executor says when it starts a variant ("[k/4] name ...") and when one ends ("ok
    # name"): the three small ones all start before any ends (records' own times start only
    # after a worker's imports, so a quick baseline can end before another's record begins).
    lines = result.output.splitlines()
    started = {n: next(i for i, ln in enumerate(lines) if f"] {n} (" in ln) for n in ("baseline", "a", "b", "big")}
    ended = {n: next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["ok", n]) for n in ("baseline", "a", "b")}
    assert max(started[n] for n in ended) < min(ended.values())
    assert started["big"] > max(ended.values())  # 9 GiB waits for the GPU to itself
    for x in small:
        assert x.env["slot"] == "cuda:0" and x.cost.memory_estimate_source == "estimate"
        assert 0 < x.cost.memory_estimate_bytes < 2**30
    big = found["big"]
    assert big.started_at >= max(x.finished_at for x in small)
    assert big.cost.memory_estimate_bytes == 9 * 2**30 and big.cost.memory_estimate_source == "resources.gpu_memory"


def worker_pid(suite_dir: Path, name: str) -> int | None:
    """The pid of the variant's worker, from the first line its log has (a worker forked by
    the fork server has the server's command line, so /proc's cmdline cannot tell)."""
    for log in suite_dir.glob(f"{name}-*/log.txt"):
        found = re.search(r"worker pid (\d+): ", log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
    return None


@pytest.mark.slow
def test_a_killed_child_and_a_timed_out_one_fail_alone_with_their_log_tails(write_suite, tmp_path):
    methods = "  - {name: victim, method: full}\n  - {name: slow, method: lora, params: {r: 4}}\n"
    suite = write_suite(SUITE.format(steps=20000, methods=methods))
    run = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(suite), "--results", str(tmp_path / "r"),
                            "--jobs", "3", "--timeout", "20"], cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline, pid = time.monotonic() + 120, None
        while pid is None and time.monotonic() < deadline:
            pid = worker_pid(tmp_path / "r" / "pool", "victim")
            time.sleep(0.5)
        assert pid is not None, "the victim's worker never started"
        log = next((tmp_path / "r" / "pool").glob("victim-*/log.txt"))
        while "train victim" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.5)  # until it is training, so its log has something to keep
        os.kill(pid, signal.SIGKILL)
        output, _ = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 1, output
    found = records(tmp_path / "r" / "pool")
    assert found["baseline"].status == "ok"
    victim, slow = found["victim"], found["slow"]
    assert victim.status == "failed" and victim.error == "worker killed by SIGKILL (out of memory?)"
    assert slow.status == "failed" and slow.error.startswith("timed out after 20 s")
    for r in (victim, slow):
        assert r.log_tail and r.env["slot"].startswith("cpu ") and r.started_at < r.finished_at
        assert r.log_tail.splitlines()[-1] in (tmp_path / "r" / "pool" / r.variant_id / "log.txt").read_text()
    assert "train slow" in slow.log_tail  # its progress bar, as it last stood
    assert "FAIL  victim (seed 0): worker killed by SIGKILL" in output and "leaderboard:" in output
