"""Warm starts: stages forked from a process that has already imported torch and transformers.

A stage process spends most of its first seconds importing torch, transformers, peft and
pyarrow: 10 of the 15 s of a small training stage on 2 cores, where forked from a process that
had imported them the same stage took 2.5 s and wrote the same bytes. `python -m inoclab.warm
CMD...` runs CMD (`snakemake ...`, `dvc repro`) beside such a process, the server, and points
every stage CMD starts at it ($INOCLAB_WARM, a Unix socket). The stage's entry point (`python -m
inoclab.stages`) then hands its command line, folder, environment and standard streams to the
server, which forks a child that runs the stage exactly as `python -m inoclab.stages` would, and
waits for it. To the engine it is the same process: it prints what the stage prints and exits with
its status; SIGTERM, SIGINT and SIGHUP reach the stage (a scheduler's preemption still saves a
checkpoint), and a client killed outright (SIGKILL) takes its stage with it, as a server that
ends takes its stages (nothing finishes after its engine was told it failed).

The server imports third-party libraries only, never the project's code, so each stage imports
this project's files afresh: an edit is seen at once, and the files a stage loads are its own.
A child sets torch's threads from the job's OMP_NUM_THREADS, as a fresh process would read it.
Where a request cannot be served as a fresh process would run (another allocator, another value
of a variable the libraries read when imported), the stage runs cold, itself; without the
variable, or without a server, everything is as before. With the gpu extra installed the wrapper
runs every stage cold: unsloth must be imported before transformers, and the server has imported
transformers. Warm starts are for CPU machines; on a cluster, jobs start on their nodes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from inoclab import allocator

ENV = "INOCLAB_WARM"  # the server's socket, for the stages the command starts
# what the server imports before it forks (third-party only: the project's code is the stage's)
PRELOAD = ("torch", "transformers", "transformers.modeling_utils", "transformers.trainer", "peft",
           "pyarrow.parquet", "pandas", "dvclive")
# variables the libraries read when they are imported: a request that differs in one runs cold
IMPORT_TIME_PREFIXES = ("PYTHON", "LD_", "HF_", "HUGGINGFACE", "TRANSFORMERS", "TORCH", "PYTORCH",
                        "CUDA", "TOKENIZERS", "KMP_", "GOMP_", "MALLOC", allocator.ENV)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # the job's own: set in the child
_HEADER = struct.Struct("!I")


def _send(sock: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket) -> dict | None:
    """One message, or None where the other side has gone."""
    head = _read_exactly(sock, _HEADER.size)
    return None if head is None else json.loads(_read_exactly(sock, _HEADER.unpack(head)[0]) or b"{}")


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def import_time_environment(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES) and k != ENV}


# --- the client: the stage's entry point -------------------------------------------------------

def forward(argv: list[str]) -> None:
    """Run this stage in the warm server named by $INOCLAB_WARM and exit as it exits; return
    (to run cold) where there is no such variable, no server, or the server refuses."""
    path = os.environ.get(ENV)
    if not path:
        return
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):  # not listening yet, or gone: run cold
        return
    except OSError as e:
        print(f"inoclab.warm: no server at {path} ({e.strerror}): the stage starts cold", file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(sock, [b"F"], [0, 1, 2])
    _send(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "allocator": allocator.name()})
    started = _receive(sock)
    if not started or "refused" in started:
        why = started["refused"] if started else "it closed the connection"
        print(f"inoclab.warm: the server refused ({why}): the stage starts cold", file=sys.stderr)
        return
    child = started["pid"]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a scheduler's signal is the stage's
        signal.signal(sig, lambda s, _frame: os.kill(child, s))
    ended = _receive(sock)
    if ended is None:  # the server died: the stage with it
        sys.exit("inoclab.warm: the server ended during the stage")
    status = ended["status"]
    if os.WIFSIGNALED(status):  # die the way the stage died: the engine sees the same status
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status))


# --- the server ---------------------------------------------------------------------------------

class Server:
    """Accepts stage requests on a Unix socket and forks one child per stage."""

    def __init__(self, path: str, module: str = "inoclab.stages", preload: tuple[str, ...] = PRELOAD):
        self.path, self.module, self.preload = path, module, preload
        self.children: dict[int, socket.socket | None] = {}  # pid -> its client's connection

    def serve(self) -> None:
        before = dict(os.environ)
        self.environment = import_time_environment(before)  # what the libraries saw
        for name in self.preload:
            __import__(name)
        # what importing them set (torch: TORCHINDUCTOR_CACHE_DIR): a fresh stage has it too
        self.set_by_imports = {k: v for k, v in os.environ.items() if before.get(k) != v}
        self.threads = _default_threads()
        # listening only once warm: a stage that starts before runs cold rather than wait here
        # (the first jobs of a run are data stages, which import little)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path + ".tmp")
        self.listener.listen(64)
        os.rename(self.path + ".tmp", self.path)
        wake_r, wake_w = self.wake = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT):  # the wrapper's end, or Ctrl-C in its terminal
            signal.signal(sig, lambda *_: self._stop())
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(wake_r, selectors.EVENT_READ, "child")
        while True:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    self._accept()
                elif key.data == "child":
                    os.read(wake_r, 4096)
                    self._reap()
                else:  # a client's connection: readable only when it has gone (killed)
                    self._client_gone(key.data)

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        request = _receive(conn)
        why = self._refusal(request, fds)
        if why:
            _send(conn, {"refused": why})
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            conn.close()  # the server's end: the stage talks to its client through fds 0-2 only
            self._run_child(request, fds, go_r)  # never returns
        os.close(go_r)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        _send(conn, {"pid": pid})
        self.selector.register(conn, selectors.EVENT_READ, pid)
        os.write(go_w, b"x")  # the stage starts once its client knows it (signals, a kill)
        os.close(go_w)

    def _refusal(self, request: dict | None, fds: list[int]) -> str | None:
        if request is None or len(fds) != 3:
            return "an incomplete request"
        if request["allocator"] != allocator.name():
            return f"the stage runs on {request['allocator']}, the server on {allocator.name()}"
        theirs = import_time_environment(request["env"])
        if theirs != self.environment:
            keys = sorted(k for k in theirs.keys() | self.environment.keys()
                          if theirs.get(k) != self.environment.get(k))
            return f"its environment differs in what the libraries read at import: {', '.join(keys)}"
        return None

    def _run_child(self, request: dict, fds: list[int], go: int) -> None:
        code = 1
        try:
            _die_with_parent()  # a server that dies takes its stages along: none finishes unseen
            if os.read(go, 1) != b"x":  # the server ended before its client heard of this stage
                os._exit(1)
            os.close(go)
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            self.selector.close()
            self.listener.close()
            for fd in self.wake:
                os.close(fd)
            for conn in self.children.values():
                if conn is not None:
                    conn.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update({k: v for k, v in request["env"].items() if k != ENV})
            os.environ.update(self.set_by_imports)
            sys.path[0] = request["cwd"]  # as `python -m` puts the folder it starts in first
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(_job_threads(request["env"], self.threads))
            sys.argv = [self.module, *request["argv"]]
            import runpy

            runpy.run_module(self.module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:  # as the interpreter ends on it: sys.exit("message") prints and gives 1
            code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
            if not isinstance(e.code, int | None):
                print(e.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> None:
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:  # its client is waiting for the status
                self.selector.unregister(conn)
                try:
                    _send(conn, {"status": status})
                except OSError:
                    pass
                conn.close()

    def _client_gone(self, pid: int) -> None:
        """The client's connection closed before its stage ended: it was killed, so is the stage."""
        conn = self.children[pid]
        self.selector.unregister(conn)
        conn.close()
        self.children[pid] = None  # reaped by _reap, with no one left to tell
        os.kill(pid, signal.SIGKILL)

    def _stop(self) -> None:
        for pid in list(self.children):
            os.kill(pid, signal.SIGKILL)
        sys.exit(0)


def _die_with_parent() -> None:
    """Linux's PR_SET_PDEATHSIG: SIGKILL this process when the server ends."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _default_threads() -> int | None:
    """torch's thread count in a fresh process without OMP_NUM_THREADS: this machine's cores."""
    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


def _job_threads(env: dict[str, str], default: int) -> int:
    value = env.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else default


# --- the wrapper --------------------------------------------------------------------------------

def run(command: list[str]) -> int:
    """Run `command` with a warm server beside it; the server ends with it."""
    if importlib.util.find_spec("unsloth"):  # the gpu extra: unsloth must come before transformers
        print("inoclab.warm: unsloth is installed, and a stage must import it before transformers, "
              "which the server imports first: every stage runs cold", file=sys.stderr)
        return subprocess.run(command, check=False).returncode
    with tempfile.TemporaryDirectory(prefix="inoclab-warm-") as folder:
        path = str(Path(folder) / "stages.sock")
        server_env = {k: v for k, v in allocator.with_tcmalloc(dict(os.environ)).items()
                      if k not in THREAD_VARIABLES}  # its torch starts as a fresh stage's would
        server = subprocess.Popen([sys.executable, "-m", "inoclab.warm", "--serve", path], env=server_env)
        try:
            return subprocess.run(command, env={**os.environ, ENV: path}, check=False).returncode
        finally:
            server.terminate()
            server.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"] and len(argv) == 2:
        Server(argv[1]).serve()
        return 0
    if not argv or argv[0].startswith("-"):
        print("usage: python -m inoclab.warm COMMAND [ARGS...]   (e.g. snakemake TARGET, dvc repro)",
              file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
