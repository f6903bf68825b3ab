"""A single-node Slurm cluster on this machine, for the tests that send sweeps to Slurm.

Debian's packages (`apt-get install slurmctld slurmd slurm-client munge`, as .ci/run does) give the
daemons; the fixture writes their files into a temporary directory, starts munged, slurmctld and slurmd
directly, bound to 127.0.0.1 on free ports, and stops them by their process ids at the end. Its node is
this machine's usable cores and 4 GB of memory, in partition `debug`, with no CPU binding
(TaskPlugin=task/none, as on clusters that bind nothing: every job sees every core) and no accounting
(submitit then follows jobs by their result files, and says on each poll that sacct failed).
Without Slurm the tests fail, saying how to install it; ASYNCBENCH_SKIP_SLURM=1 skips them instead.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
INSTALL = "apt-get install slurmctld slurmd slurm-client munge"
PARTITION = "debug"
NODE_MEMORY_MB = 4096  # below the launcher's default mem_gb (16), so that the default is refused
START_SECONDS = 30


@dataclass(frozen=True)
class SlurmCluster:
    directory: Path
    env: dict[str, str]  # what a Slurm command (and a sweep that runs them) needs to reach this cluster
    cores: int

    def command(self, *arguments: str) -> str:
        """Run a Slurm command (`squeue`, `scancel`) on this cluster; return its output."""
        return subprocess.run(arguments, env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=True, timeout=30).stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(directory: Path, cores: int) -> str:
    return "\n".join([
        "ClusterName=asyncbench",
        "SlurmctldHost=localhost",
        f"SlurmUser={getpass.getuser()}",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={directory / 'munge/socket'}",
        f"StateSaveLocation={directory / 'state'}",
        f"SlurmdSpoolDir={directory / 'spool'}",
        f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
        f"SlurmdPidFile={directory / 'slurmd.pid'}",
        f"SlurmctldLogFile={directory / 'slurmctld.log'}",
        f"SlurmdLogFile={directory / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",  # the node as described here, whatever the hardware
        f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cores} RealMemory={NODE_MEMORY_MB} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def start(directory: Path, name: str, *command: str, env: dict[str, str]) -> subprocess.Popen:
    with open(directory / f"{name}.out", "w") as log:  # the daemon keeps its own copy
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_idle(cluster: SlurmCluster, daemons: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if any(daemon.poll() is not None for daemon in daemons):
            break
        try:
            if cluster.command("sinfo", "--noheader", "--format=%T").strip() == "idle":
                return
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.5)
    logs = {path.name: path.read_text()[-2000:] for path in cluster.directory.glob("*.out")}
    pytest.fail(f"the Slurm cluster in {cluster.directory} did not start within {START_SECONDS} s: {logs}")


def stop_every_job(cluster: SlurmCluster) -> None:
    """Cancel whatever a test left on the cluster, and wait a little for it to end (slurmd's job steps
    outlive slurmd)."""
    try:
        cluster.command("scancel", f"--partition={PARTITION}")
        deadline = time.monotonic() + 15
        while cluster.command("squeue", "--noheader").strip() and time.monotonic() < deadline:
            time.sleep(0.5)
    except subprocess.SubprocessError:
        pass


@pytest.fixture(scope="session")
def slurm_cluster():
    if os.environ.get("ASYNCBENCH_SKIP_SLURM") == "1":
        pytest.skip("ASYNCBENCH_SKIP_SLURM=1")
    missing = [daemon for daemon in (*DAEMONS, "sbatch") if shutil.which(daemon) is None]
    if missing:
        pytest.fail(f"Slurm is not installed (no {', '.join(missing)} on PATH): {INSTALL}; "
                    "or set ASYNCBENCH_SKIP_SLURM=1 to skip the Slurm tests")
    # munged wants its socket's directory searchable by all, its key readable by its owner only.
    directory = Path(tempfile.mkdtemp(prefix="asyncbench-slurm-"))
    directory.chmod(0o755)
    for sub, mode in (("munge", 0o755), ("key", 0o700), ("state", 0o755), ("spool", 0o755)):
        (directory / sub).mkdir(mode=mode)
    key = directory / "key/munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    cores = len(os.sched_getaffinity(0))
    (directory / "slurm.conf").write_text(slurm_conf(directory, cores))
    cluster = SlurmCluster(directory, {"SLURM_CONF": str(directory / "slurm.conf")}, cores)

    daemons = [start(directory, "munged", "munged", "--foreground", f"--key-file={key}",
                     f"--socket={directory / 'munge/socket'}", f"--pid-file={directory / 'munge/pid'}",
                     f"--seed-file={directory / 'munge/seed'}", env=cluster.env)]
    while not (directory / "munge/socket").exists() and daemons[0].poll() is None:
        time.sleep(0.1)
    daemons.append(start(directory, "slurmctld", "slurmctld", "-D", "-i", env=cluster.env))
    daemons.append(start(directory, "slurmd", "slurmd", "-D", "-N", "localhost", env=cluster.env))
    try:
        wait_until_idle(cluster, daemons)
        yield cluster
    finally:
        stop_every_job(cluster)
        for daemon in reversed(daemons):
            stop(daemon)
        shutil.rmtree(directory, ignore_errors=True)
