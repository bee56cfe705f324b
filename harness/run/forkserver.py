"""A fork server for the local executor on a CPU machine: one process imports torch,
transformers, peft and the worker once, then forks a child per variant.

Each variant still runs in a process of its own (its own peak memory, nothing leaking
between variants, a crash that takes down only itself), but it starts in a fraction of a
second instead of paying the imports again: six seconds of eight variants on two cores.
The server never runs a torch operation itself, so no OpenMP thread pool exists when it
forks; the child sets its share of the cores (HARNESS_THREADS) as a fresh worker does.

Only for CPU slots. A CUDA context cannot be used in a child forked after the parent
touched CUDA, and importing bitsandbytes asks CUDA about its devices; on a GPU machine the
imports are also a smaller share of a variant. Set HARNESS_FORK=0 to start every variant as
a fresh `python -m harness.run.worker` instead.

The protocol, over a Unix socket pair (messages keep their bounds): the executor sends
{"directory", "env"} with the file descriptor the child's output goes to; the server forks,
answers {"pid"}, and later {"exit": pid, "code": returncode as subprocess gives it}. The
child is a session leader (its pid is its group), so the executor stops it as it stops a
subprocess (local.stop).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

_MESSAGE = 1 << 16
REAP_SECONDS = 0.1


def enabled() -> bool:
    return os.environ.get("HARNESS_FORK", "1") != "0" and hasattr(os, "fork") and hasattr(socket, "send_fds")


class Forked:
    """A forked worker as the executor sees a subprocess: pid, poll(), wait(), returncode."""

    def __init__(self, server: ForkServer, pid: int, stdout=None):
        self.server, self.pid, self.stdout = server, pid, stdout
        self.returncode: int | None = None
        self.via: socket.socket | None = None  # the server connection it was forked through

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self.server.changed:
            if not self.server.changed.wait_for(lambda: self.returncode is not None, timeout):
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """The executor's end: starts the server on first use, forks workers through it."""

    def __init__(self):
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen | None = None
        self.children: dict[int, Forked] = {}
        self.replies: list[int] = []
        self.changed = threading.Condition()

    def start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        self.process = subprocess.Popen([sys.executable, "-m", "harness.run.forkserver", str(theirs.fileno())],
                                        pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        theirs.close()
        self.sock = ours
        threading.Thread(target=self._listen, args=(ours,), daemon=True).start()
        return ours

    def spawn(self, directory: Path, env: dict[str, str], output: int, stdout=None) -> Forked:
        """Fork a worker for the variant in `directory`, its output to the descriptor `output`."""
        # The socket is held here, not read again from self.sock: a server that dies at once
        # has its listener set self.sock to None at any moment (OSError then reaches the caller).
        via = self.sock or self.start()
        request = [json.dumps({"directory": str(directory), "env": env}).encode()]
        try:
            socket.send_fds(via, request, [output])
        except OSError:  # the server died before its listener noticed: start it again, once
            via = self.start()
            socket.send_fds(via, request, [output])
        with self.changed:
            if not self.changed.wait_for(lambda: self.replies or self.sock is None, 600):
                raise RuntimeError("the fork server did not answer in 10 minutes")
            if not self.replies:
                raise RuntimeError("the fork server ended; see the output above")
            pid = self.replies.pop(0)
            child = self.children[pid] = Forked(self, pid, stdout)
            child.via = via
        return child

    def _listen(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(_MESSAGE)
            except OSError:
                data = b""
            with self.changed:
                if not data:  # the server is gone: whatever it forked can no longer be waited for
                    for child in self.children.values():
                        if child.returncode is None and child.via is sock:
                            _kill_group(child.pid)
                            child.returncode = -signal.SIGKILL
                    if self.sock is sock:  # not a server started again since
                        self.sock = None
                    self.changed.notify_all()
                    return
                message = json.loads(data)
                if "pid" in message:
                    self.replies.append(message["pid"])
                else:
                    self.children[message["exit"]].returncode = message["code"]
                self.changed.notify_all()

    def close(self) -> None:
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # the server may have gone first
                sock.shutdown(socket.SHUT_RDWR)
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pid, signal.SIGKILL)


def serve(fd: int) -> None:
    """The server's end: import once, then fork a worker per request and report its exit."""
    import harness.run.worker  # noqa: F401  torch, transformers, peft and the harness, imported once

    sock = socket.socket(fileno=fd)
    alive = True
    while alive or _children:
        if alive and select.select([sock], [], [], REAP_SECONDS)[0]:
            data, fds, _, _ = socket.recv_fds(sock, _MESSAGE, 1)
            if not data:
                alive = False  # the executor is done (or gone); reap what is left, then leave
            else:
                request = json.loads(data)
                pid = os.fork()
                if pid == 0:
                    sock.close()
                    _child(Path(request["directory"]), request["env"], fds[0])
                os.close(fds[0])
                _children.add(pid)
                sock.send(json.dumps({"pid": pid}).encode())
        elif not alive:
            select.select([], [], [], REAP_SECONDS)
        while _children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _children.discard(pid)
            if alive:
                try:
                    sock.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())
                except OSError:
                    alive = False


_children: set[int] = set()


def _child(directory: Path, env: dict[str, str], output: int) -> None:
    """In the forked child: a session of its own, output to the log, the slot's environment,
    then the worker, exactly as `python -m harness.run.worker DIR` runs it."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.environ.update(env)
        from harness.run import worker

        code = worker.main(directory)
    except BaseException:  # noqa: BLE001  nothing may return into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
