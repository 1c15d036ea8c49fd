"""Warm starts (inoclab/warm.py): a stage forked from the server behaves to its engine as the
process itself would: its streams, folder, arguments and exit status, the signals a scheduler
sends, and a kill of the process that asked for it. The stage here is a small module of the
test's own; the pipeline's stages are built warm by the end-to-end build (conftest.small_pipeline)
and compared with the SLURM test's cold cluster jobs and DVC's reruns there."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TARGET = """\
import os, signal, sys, time
from pathlib import Path
what = sys.argv[1]
print("argv", sys.argv[1:], "cwd", os.getcwd(), "var", os.environ.get("MY_VAR"), "warm", os.environ.get("INOCLAB_WARM"))
print("pid", os.getpid(), "parent", os.getppid(), flush=True)
print("to stderr", file=sys.stderr)
if what == "exit":
    sys.exit(int(sys.argv[2]))
if what == "message":
    sys.exit("a message")
if what == "raise":
    raise ValueError("from the stage")
if what == "threads":
    import torch
    print("threads", torch.get_num_threads())
if what == "wait":
    def stop(sig, frame):
        Path("stopped").write_text(str(sig))
        sys.exit(3)
    signal.signal(signal.SIGTERM, stop)
    Path("started.tmp").write_text(str(os.getpid()))
    os.replace("started.tmp", "started")  # whole when it appears: the test reads it at once
    time.sleep(60)
"""
# the stage entry point's two lines, for the test's module
CLIENT = """\
import runpy, sys
from inoclab import warm
warm.forward(sys.argv[1:])
print("cold", flush=True)
runpy.run_module("warm_target", run_name="__main__", alter_sys=True)
"""


def start_server(folder: Path, preload: tuple[str, ...]) -> tuple[Path, Path, int, dict, subprocess.Popen]:
    """A server of the test's module in `folder`, once it listens: (folder, socket, pid, env, process)."""
    (folder / "warm_target.py").write_text(TARGET)
    (folder / "client.py").write_text(CLIENT)
    path = folder / "s.sock"
    env = {**os.environ, "PYTHONPATH": str(folder)}
    env.pop("OMP_NUM_THREADS", None)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        from inoclab.warm import Server
        Server({str(path)!r}, module="warm_target", preload={preload!r}).serve()""")], env=env)
    deadline = time.time() + 60
    while not path.exists():
        assert proc.poll() is None and time.time() < deadline, "the server did not start"
        time.sleep(0.05)
    return folder, path, proc.pid, env, proc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    *served, proc = start_server(tmp_path_factory.mktemp("warm"), preload=("torch",))
    yield tuple(served)
    proc.terminate()
    proc.wait()


def started(proc: subprocess.Popen, folder: Path) -> int:
    """The pid of the waiting stage, once it waits."""
    while not (folder / "started").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    return int((folder / "started").read_text())


def client(server, cwd: Path, *argv: str, env: dict | None = None, **popen) -> subprocess.Popen:
    folder, path, _, base = server
    return subprocess.Popen([sys.executable, str(folder / "client.py"), *argv], cwd=cwd, text=True,
                            env={**base, "INOCLAB_WARM": str(path), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def test_the_stage_runs_in_a_child_of_the_server_with_the_clients_folder_arguments_environment_and_streams(
        server, tmp_path):
    proc = client(server, tmp_path, "exit", "7", env={"MY_VAR": "x"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7, (out, err)
    assert "cold" not in out
    assert f"argv ['exit', '7'] cwd {tmp_path} var x warm None" in out  # the server's variable is not the stage's
    assert f"parent {server[2]}" in out and f"pid {proc.pid}" not in out
    assert "to stderr" in err


@pytest.mark.parametrize("what, code, message", [("message", 1, "a message"), ("raise", 1, "ValueError: from the stage"),
                                                 ("end", 0, "")])
def test_exit_status_and_errors_are_the_interpreters(server, tmp_path, what, code, message):
    proc = client(server, tmp_path, what)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code and message in err, (out, err)


def test_torch_takes_the_jobs_threads_as_a_fresh_process_would(server, tmp_path):
    import torch

    out, _ = client(server, tmp_path, "threads", env={"OMP_NUM_THREADS": "1"}).communicate(timeout=60)
    assert "threads 1" in out
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    fresh = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    proc = client(server, tmp_path, "threads")
    assert f"threads {fresh}" in proc.communicate(timeout=60)[0]
    assert torch.get_num_threads() >= 1


def test_sigterm_reaches_the_stage_and_the_client_exits_with_its_status(server, tmp_path):
    proc = client(server, tmp_path, "wait")
    started(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 3 and (tmp_path / "stopped").read_text() == str(int(signal.SIGTERM))


def test_a_client_killed_outright_takes_its_stage_with_it(server, tmp_path):
    proc = client(server, tmp_path, "wait")
    stage = started(proc, tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert _ends(stage), "the stage outlived its client"


def test_a_request_the_server_cannot_serve_as_a_fresh_process_runs_cold(server, tmp_path):
    out, err = client(server, tmp_path, "end", env={"HF_HUB_OFFLINE": "0" if os.environ.get("HF_HUB_OFFLINE") == "1"
                                                    else "1"}).communicate(timeout=60)
    assert "cold" in out and "HF_HUB_OFFLINE" in err
    out, _ = client(server, tmp_path, "end", env={"INOCLAB_WARM": str(tmp_path / "none.sock")}).communicate(timeout=60)
    assert "cold" in out  # no server there (not started yet, or ended): the stage runs itself


def test_a_server_that_dies_takes_its_stages_with_it(tmp_path):
    """Else a stage could finish after its client reported the failure, and look built."""
    (tmp_path / "code").mkdir()
    *served, proc = start_server(tmp_path / "code", preload=())
    waiting = client(served, tmp_path, "wait")
    stage = started(waiting, tmp_path)
    proc.kill()
    proc.wait()
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1 and "the server ended during the stage" in err
    assert _ends(stage), "the stage outlived its server"


def _ends(pid: int, within: float = 10) -> bool:
    deadline = time.time() + within
    while _alive(pid):
        if time.time() > deadline:
            return False
        time.sleep(0.02)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (ended, not yet reaped by the server) counts as ended; so does one reaped meanwhile
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_the_wrapper_names_its_server_to_the_command_and_runs_cold_where_unsloth_is_installed(tmp_path):
    show = [sys.executable, "-m", "inoclab.warm", sys.executable, "-c", "import os; print(os.environ.get('INOCLAB_WARM'))"]
    out = subprocess.run(show, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("stages.sock")
    (tmp_path / "unsloth").mkdir()  # the gpu extra's package, as find_spec sees it
    (tmp_path / "unsloth/__init__.py").write_text("")
    cold = subprocess.run(show, cwd=tmp_path, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert cold.stdout.strip() == "None" and "unsloth is installed" in cold.stderr
