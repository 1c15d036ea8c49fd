"""A real single-node SLURM cluster on this machine, for the tests: munge, slurmctld and slurmd
from the distribution's packages (.ci/run installs them), configured in a temporary folder.

It runs configless (slurmd fetches its configuration from slurmctld), so that commands inside
jobs find it without SLURM_CONF. The node declares one GPU (a count-only gres on /dev/null: the jobs that ask for one are
scheduled as on a GPU cluster, and run on the CPU here, where `backend: auto` picks hf) and the
CPUs and memory the slurm profile asks for (`SlurmdParameters=config_overrides`), so that the
profile is used as it is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    absent = [d for d in DAEMONS if not (shutil.which(d) or Path(f"/usr/sbin/{d}").exists())]
    if absent:
        return f"not installed: {', '.join(absent)} (apt-get install slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_munge() -> None:
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return  # already running
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    for _ in range(50):
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("munged did not start")


def _conf(root: Path, node: str, port: int, cpus: int, mem_mb: int) -> str:
    return f"""\
ClusterName=inoclab-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={port}
SlurmctldParameters=enable_configless
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
MinJobAge=3600
ReturnToService=2
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def single_node_cluster(root: Path, cpus: int = 8, mem_mb: int = 128000) -> Iterator[dict[str, str]]:
    """Start the cluster; yield the environment its clients need (SLURM_CONF); stop it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    (root / "spool").mkdir(exist_ok=True)
    node = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    port = _free_port()
    conf.write_text(_conf(root, node, port, cpus, mem_mb))
    (root / "gres.conf").write_text(f"NodeName={node} Name=gpu File=/dev/null\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    _start_munge()
    subprocess.run(["slurmctld", "-f", str(conf)], env=env, check=True)
    try:
        # configless, as on many real clusters: slurmd fetches the configuration from slurmctld
        # and caches it in /run/slurm/conf, where commands inside jobs (srun, which Snakemake's
        # job step calls with the SLURM_* variables cleared) find it
        subprocess.run(["slurmd", "--conf-server", f"127.0.0.1:{port}"], env=env, check=True)
        for _ in range(100):
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.strip() == "idle":
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the SLURM node did not come up: {state!r}\n{(root / 'slurmctld.log').read_text()[-2000:]}")
        yield env
    finally:
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                os.kill(int((root / pid_file).read_text()), 15)
