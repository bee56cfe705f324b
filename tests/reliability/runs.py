"""Real `harness run` processes for the kill, signal and concurrency tests, and the checks
made on the results tree after them.

Each run is `python -m harness.cli run SUITE` started with subprocess.Popen (its own
process, its own fork server and workers, exactly what a user starts), killed or signalled
with os.kill. The suite is a few tiny-random-llama variants that train and evaluate in
about a second each, pinned to one thread and fp32 so two runs of it give equal numbers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.records.schema import Record, clear_comparisons
from harness.records.store import process_alive, read_record

SUITE = """\
name: kills
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  template: {prompt: "{{input}}\\n", completion: "{{output}}"}
  limit: 16
  steps: 4
  batch_size: 2
  max_length: 256
  learning_rate: 1.0e-2
  precision: fp32
seeds: [0]
methods:
  - {name: full, method: full}
  # seconds long, so kills land in the middle; checkpointed, so a rerun resumes where it was
  - {name: lora, method: lora, params: {r: 4}, train: {steps: 120, checkpoint_every: 20}}
evals:
  - {name: d2t, data: builtin:data2text, split: test, limit: 3, max_new_tokens: 6, metrics: [rouge1, bleu]}
"""
VARIANTS = 3  # the baseline, full, lora
WORKER_LINE = re.compile(rb"worker pid (\d+):")


@dataclass
class Layout:
    """Where one episode's run writes: the suite file, the results and the leaderboard."""

    suite: Path
    results: Path
    leaderboard: Path

    @classmethod
    def make(cls, folder: Path, text: str = SUITE) -> Layout:
        folder.mkdir(parents=True, exist_ok=True)
        suite = folder / "suite.yaml"
        suite.write_text(text, encoding="utf-8")
        return cls(suite, folder / "results", folder / "board" / "kills.html")

    @property
    def suite_dir(self) -> Path:
        return self.results / yaml.safe_load(self.suite.read_text())["name"]

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "harness.cli", "run", str(self.suite), "--results", str(self.results),
                "--leaderboard", str(self.leaderboard), *extra]

    def start(self, *extra: str) -> subprocess.Popen:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        return subprocess.Popen(self.command(*extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)

    def run(self, *extra: str, timeout: float = 300) -> tuple[int, str]:
        """Run to the end: (exit code, output)."""
        process = self.start(*extra)
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out.decode("utf-8", errors="replace")


def workers(suite_dir: Path) -> dict[Path, int]:
    """The worker pid each variant folder's log names (the last one started there)."""
    found = {}
    for log in suite_dir.glob("*/log.txt"):
        pids = WORKER_LINE.findall(log.read_bytes())
        if pids:
            found[log.parent] = int(pids[-1])
    return found


def running_worker(suite_dir: Path, name: str = "", timeout: float = 120) -> tuple[Path, int]:
    """A variant (whose folder starts with `name`) that is training now (its progress file is
    there, its record not yet) and its worker's pid, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder, pid in workers(suite_dir).items():
            if folder.name.startswith(name) and (folder / "progress.json").is_file() \
                    and not (folder / "record.json").exists() and process_alive(pid):
                return folder, pid
        time.sleep(0.05)
    raise AssertionError(f"no worker started training in {suite_dir} within {timeout} s")


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # it ended already: the moment came after the end


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """The pids still alive after `timeout` seconds (none, when every worker stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(process_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if process_alive(p)]


# ---- what a results tree must look like after any run ---------------------------------

def parse_all(layout: Layout) -> int:
    """Read back every file of the results tree and the leaderboard as what it claims to be;
    the number of files read. Raises on the first that does not parse."""
    count = 0
    for path in sorted(p for p in layout.results.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "record.json":
            read_record(path)
        elif path.suffix == ".json" or path.name == ".holder":
            json.loads(data)
        elif path.suffix == ".jsonl":
            for line in data.decode("utf-8").splitlines():
                if line.strip():
                    json.loads(line)
        elif path.suffix == ".yaml":
            yaml.safe_load(data)
        elif path.name == ".lock":
            pass  # an OS lock's file: empty
        else:
            data.decode("utf-8")  # logs and tracebacks: text
        count += 1
    if layout.leaderboard.exists():
        page = layout.leaderboard.read_text(encoding="utf-8")
        assert page.rstrip().endswith("</html>"), f"{layout.leaderboard} is not a whole page"
        count += 1
    return count


def temp_files(layout: Layout) -> list[Path]:
    places = [layout.results, layout.leaderboard.parent]
    return [p for place in places if place.exists() for p in place.rglob("*.tmp")]


@dataclass
class Finished:
    """A variant finished when the run was killed: what must not change when the rerun skips it."""

    record: dict  # its record without the comparison fields (a rerun recomputes those whole)
    files: dict[str, tuple[bytes, int]]  # predictions and log: bytes and mtime in ns


def finished(suite_dir: Path) -> dict[str, Finished]:
    """The variants with an ok record, by folder name."""
    out = {}
    for path in suite_dir.glob("*/record.json"):
        try:
            record = read_record(path)
        except ValueError:
            continue
        if record.status != "ok":
            continue
        folder = path.parent
        files = {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
                 for p in [*folder.glob("predictions/*"), folder / "log.txt"] if p.is_file()}
        out[folder.name] = Finished(_without_comparisons(record), files)
    return out


def _without_comparisons(record: Record) -> dict:
    copy = record.model_copy(deep=True)
    clear_comparisons(copy)
    return copy.model_dump(mode="json")


def resumed(suite_dir: Path) -> list[int]:
    """The steps the variants' final records say their training resumed after (checkpoints)."""
    steps = []
    for path in suite_dir.glob("*/record.json"):
        steps += read_record(path).method_info.get("resumed_from_checkpoint") or []
    return steps


def scores(suite_dir: Path) -> dict[str, tuple]:
    """Each variant's metrics and loss curve, by name: what an uninterrupted run must equal."""
    out = {}
    for path in suite_dir.glob("*/record.json"):
        record = read_record(path)
        assert record.status == "ok", f"{path}: {record.status} {record.error}"
        metrics = {ev: {m: s.value for m, s in ms.items()} for ev, ms in record.metrics.items()}
        out[record.name] = (metrics, record.train_curve)
    return out


def check_after_rerun(layout: Layout, before: dict[str, Finished], reference: dict[str, tuple]) -> None:
    """Everything the issue of a killed run asks of the rerun that completed after it."""
    parse_all(layout)
    assert temp_files(layout) == [], "temp files left behind"
    after = finished(layout.suite_dir)
    for name, then in before.items():
        now = after[name]
        assert now.record == then.record, f"{name}: finished before the kill, recomputed by the rerun"
        assert now.files == then.files, f"{name}: its predictions or log were written again"
    assert scores(layout.suite_dir) == reference
    leftover = wait_gone(list(workers(layout.suite_dir).values()), timeout=5)
    assert leftover == [], f"workers still running after the run ended: {leftover}"
