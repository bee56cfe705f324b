"""Run a suite's variants as Ray tasks, on a cluster (`--executor ray --address ADDR`) or on
a Ray instance started on this machine (no address).

Each variant is one task asking Ray for its CPUs and GPUs (resources.gpus); on whichever node Ray
places it, the task runs the same worker as the local executor (`python -m
harness.run.worker`, a child process of its own, so peak memory and crashes stay the
variant's) in a scratch folder, and returns every file the worker wrote (record, predictions,
traceback, log). The driver writes them into the results folder, so the records, ids and
scores are those a local run writes, and a restarted driver resumes like a local run:
finished variants are skipped. While a task runs it relays its worker's progress.json to a
small Ray actor, from which the driver shows the same board as a local run. A task whose node is lost is retried `retries` times by Ray;
after that the variant is one failed record saying so. Saved weights (`save: true`) are left
on the node that trained them unless the results folder is on a path every node shares.

Ray is an optional dependency (`pip install 'harness[ray]'`), imported only here.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from harness.errors import HarnessError
from harness.records.schema import Record
from harness.records.store import write_bytes_atomic, write_record
from harness.run import memory
from harness.run.launch import worker_command
from harness.run.local import BOARD_SECONDS, stop
from harness.run.outcome import LOG, Held, Outcome, claim, ended, new_record, now
from harness.run.progress import Board, Running, read_progress
from harness.suite.variant import Variant

INSTALL = "pip install 'harness[ray]'"
RELAY_SECONDS = 1.0  # how often a task sends its variant's progress to the driver


def _ray():
    try:
        import ray
    except ImportError:
        raise HarnessError(f"--executor ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


class ProgressBoard:
    """A Ray actor holding each running variant's progress: tasks put it, the driver reads it."""

    def __init__(self) -> None:
        self.states: dict[str, dict] = {}

    def put(self, variant_id: str, state: dict) -> None:
        self.states[variant_id] = state

    def all(self) -> dict[str, dict]:
        return dict(self.states)


def run_on_node(variant_json: str, threads: int, timeout: float | None, board=None) -> dict[str, Any]:
    """The Ray task: the worker in a scratch folder on this node, its progress relayed to the
    driver's board; every file it wrote, as bytes."""
    node = os.uname().nodename
    with tempfile.TemporaryDirectory(prefix="harness-") as scratch:
        folder = Path(scratch) / "variant"
        folder.mkdir()
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HARNESS_THREADS=str(threads),
                   HARNESS_SLOT=f"ray:{node}")
        variant = Variant.model_validate_json(variant_json)
        command = worker_command(variant, folder)
        start = time.monotonic()
        with open(folder / LOG, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)  # its own group: torchrun's ranks stop with it
            code: int | None = None
            while (code := process.poll()) is None:
                if timeout is not None and time.monotonic() - start > timeout:
                    stop(process)
                    code = None
                    break
                if board is not None:
                    board.put.remote(variant.id, {"node": node, **(read_progress(folder) or {})})
                time.sleep(RELAY_SECONDS)
        files = {str(p.relative_to(folder)): base64.b64encode(p.read_bytes()).decode()
                 for p in folder.rglob("*") if p.is_file()}
        return {"returncode": code, "files": files, "node": node}


def run(variants: list[Variant], results_dir: Path, force: bool = False, address: str | None = None,
        cpus: int = 1, gpus: float | None = None, retries: int = 0, timeout: float | None = None,
        wait: bool = True) -> Iterator[Outcome | Board]:
    """Yields a 'started' outcome as each variant's task is submitted, its final outcome as it
    ends, and a Board of the running ones every BOARD_SECONDS in between. A variant another
    run holds is waited for ('waiting', then tried again every LOCK_POLL_SECONDS) or, with
    wait=False, reported 'busy'."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 num_cpus=None if address else os.cpu_count())
    if gpus is None:  # a GPU per variant where the cluster has any
        gpus = 1 if ray.cluster_resources().get("GPU", 0) else 0
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=retries)(run_on_node)
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    finished: list[float] = []
    pending: dict[Any, tuple[Variant, Path, contextlib.ExitStack, float]] = {}
    held = Held(wait)

    def submit(variant: Variant) -> Outcome | None:
        claimed = claim(variant, results_dir, force)
        if isinstance(claimed, Outcome):
            return held.add(claimed) if claimed.state == "busy" else claimed
        directory, lock = claimed
        # A variant on several GPUs asks Ray for all of them on one node (torchrun runs its ranks
        # there), and for the host memory it needs (host_memory).
        options: dict[str, Any] = {"num_gpus": gpus * variant.world_size}
        if (host := host_memory(variant, on_gpus=bool(gpus))) is not None:
            options["memory"] = host
        ref = task.options(**options).remote(variant.model_dump_json(), cpus, timeout, board)
        pending[ref] = (variant, directory, lock, time.perf_counter())
        return Outcome(variant, "started", directory=directory, slot="ray")

    try:
        for variant in variants:
            if (outcome := submit(variant)) is not None:
                yield outcome
        while pending or held:
            for variant in held.due():
                if (outcome := submit(variant)) is not None:
                    yield outcome
            if not pending:
                time.sleep(BOARD_SECONDS / 10)
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=BOARD_SECONDS)
            if not ready:  # what runs where, from the tasks' relayed progress; the rest wait in Ray's queue
                states = ray.get(board.all.remote())
                running = [Running(v.name, f"ray:{states[v.id]['node']}", time.perf_counter() - t, states[v.id])
                           for v, _, _, t in pending.values() if v.id in states]
                yield Board(running, len(pending) - len(running) + len(held), list(finished), max(len(running), 1))
                continue
            variant, directory, lock, started = pending.pop(ready[0])
            try:
                record = _write_back(ray, ready[0], variant, directory, timeout)
            finally:
                lock.close()
            finished.append(time.perf_counter() - started)
            yield Outcome(variant, record.status, record, finished[-1], directory, str(record.env.get("slot") or "ray"))
    finally:
        for ref, (_, _, lock, _) in pending.items():
            ray.cancel(ref, force=True)
            lock.close()


def host_memory(variant: Variant, on_gpus: bool) -> int | None:
    """Host memory (what Ray's `memory` resource counts) a variant's task needs, by the estimate
    of harness/run/memory.py: on a CPU the whole of it, weights in fp32 as the CPU loads them;
    on a GPU the weights, which pass through host memory as they load. Ray schedules whole
    GPUs, not GPU memory: packing variants onto a GPU by their estimates is the local executor's.
    None when there is no estimate (or only a stated resources.gpu_memory)."""
    if not on_gpus and variant.load_dtype == "auto":
        variant = variant.model_copy(update={"load_dtype": "fp32"})
    need = memory.estimate(variant)
    if need is None or not need.parts:
        return None
    return (need.parts["weights"] if on_gpus else need.bytes) * variant.world_size  # every rank holds its own


def _write_back(ray, ref, variant: Variant, directory: Path, timeout: float | None) -> Record:
    """The task's files into the variant's folder, and its record (outcome.ended)."""
    try:
        result = ray.get(ref)
    except Exception as err:  # the task itself failed: its node was lost, retries used up
        record = new_record(variant, error=f"ray task failed: {type(err).__name__}: {str(err).splitlines()[0]}",
                            finished_at=now())
        write_record(directory, record)
        return record
    for name, data in result["files"].items():
        write_bytes_atomic(directory / name, base64.b64decode(data))
    return ended(variant, directory, result["returncode"], timeout, f"ray:{result['node']}")
