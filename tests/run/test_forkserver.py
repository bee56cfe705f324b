"""The fork server: a variant forked from the process that imported everything once ends
with the same record as one started as a fresh `python -m harness.run.worker`, and when the
server was killed it is started again; when none starts, the executor starts the worker the
old way and says so in the log.

How it starts what it needs: `harness run` through CliRunner starts a real fork server
process (harness/run/forkserver.py) and forks real workers from it; with HARNESS_FORK=0 it
starts each worker as a subprocess. Another test starts a server and kills it with a real
SIGKILL; the last starts /bin/false in its place.
"""

from __future__ import annotations

import signal

from click.testing import CliRunner

from harness.cli import main
from harness.records.store import read_record
from harness.run import forkserver, local

SUITE = """\
name: forked
model: tiny-random-llama
train: {data: builtin:data2text, limit: 8, steps: 3, batch_size: 2, max_length: 128, precision: fp32}
seeds: [0]
methods:
  - {name: lora, method: lora, params: {r: 4}}
evals:
  - {name: d2t, data: builtin:data2text, split: test, limit: 3, max_new_tokens: 6, metrics: [rouge1]}
"""


def _records(folder):
    return {r.name: r for r in (read_record(p) for p in folder.glob("*/record.json"))}


def test_a_forked_worker_records_what_a_fresh_one_does(write_suite, tmp_path, monkeypatch):
    suite = write_suite(SUITE)
    forked = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "forked")])
    assert forked.exit_code == 0, forked.output
    monkeypatch.setenv("HARNESS_FORK", "0")
    fresh = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "fresh")])
    assert fresh.exit_code == 0, fresh.output
    a, b = _records(tmp_path / "forked" / "forked"), _records(tmp_path / "fresh" / "forked")
    assert set(a) == set(b) == {"baseline", "lora"}
    for name in a:
        assert a[name].status == b[name].status == "ok"
        assert a[name].metrics == b[name].metrics
        assert a[name].train_curve == b[name].train_curve
        assert a[name].env["threads"] == b[name].env["threads"]
        log = (tmp_path / "forked" / "forked" / a[name].variant_id / "log.txt").read_text()
        assert log.startswith("INFO harness.run.worker: worker pid ")


def test_a_killed_server_is_started_again_and_exit_codes_come_through(tmp_path):
    server = forkserver.ForkServer()
    server.start()
    first = server.process
    assert first is not None
    first.send_signal(signal.SIGKILL)
    first.wait()
    with open(tmp_path / "log.txt", "wb") as log:  # a folder without variant.json: the worker fails
        child = local._fork(server, tmp_path, {}, log, tee=False)
        assert child is not None and child.wait(120) == 1
    assert server.process is not first
    assert "variant.json" in (tmp_path / "log.txt").read_text()
    server.close()


def test_without_a_server_the_worker_starts_as_a_new_process(tmp_path, monkeypatch):
    server = forkserver.ForkServer()
    monkeypatch.setattr(forkserver.sys, "executable", "/bin/false")  # a server that ends at once
    with open(tmp_path / "log.txt", "wb") as log:
        assert local._fork(server, tmp_path, {}, log, tee=False) is None
    assert "fork server unavailable" in (tmp_path / "log.txt").read_text()
    server.close()
