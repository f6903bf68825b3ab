"""A sweep as a whole (issue 7): SIGTERM reaches every job, and a summary of every job ends it.

Hydra runs its `on_multirun_end` callbacks only when every job succeeded, so the callback here
notes the sweep directory when the sweep starts, and `__main__` prints the summary however the sweep
ended (done, a job failed, interrupted), from the run.json files the jobs left. Launchers that run
jobs in processes of their own (joblib, submitit, Ray) do not pass SIGTERM on to them: the callback
does. Hydra's callbacks are why this module imports Hydra (as `asyncbench.config` lists); they are
named in conf/config.yaml and conf/hydra/launcher/ray_local.yaml.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

JOB_FINISH_SECONDS = 10  # beyond its workers' shutdown grace, for a job to write its files when stopped

_started_sweeps: list[Path] = []  # in the launching process, whichever launcher runs the jobs


class SweepMonitor(Callback):
    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        _started_sweeps.append(sweep_dir)
        if threading.current_thread() is threading.main_thread():  # only there can a handler be set
            grace = config.shutdown_grace_seconds + JOB_FINISH_SECONDS
            for signum in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C misses Ray's jobs: own process group
                signal.signal(signum, lambda signum, frame: stop_jobs_then_interrupt(sweep_dir, grace))


def stop_jobs_then_interrupt(sweep_dir: Path, grace: float) -> None:
    """Send SIGTERM to every job of the sweep running in another process on this machine, give them
    `grace` seconds to stop and write their files (run.json: interrupted, a checkpoint), then
    interrupt this process as Ctrl-C would. (A job in this process is stopped by that interruption.)"""
    stopping = {}
    for run_json, info in _job_infos(sweep_dir):
        if (info.get("status") in ("starting", "running") and info.get("pid") not in (None, os.getpid())
                and info.get("host", {}).get("hostname") == socket.gethostname()):
            try:
                os.kill(info["pid"], signal.SIGTERM)
                stopping[run_json] = info["pid"]
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while stopping and time.monotonic() < deadline:
        time.sleep(0.1)
        stopping = {run_json: pid for run_json, pid in stopping.items() if _still_running(run_json, pid)}
    raise KeyboardInterrupt


def _still_running(run_json: Path, pid: int) -> bool:
    """Whether the job has yet to write its final run.json (a joblib worker lives on after its job)."""
    try:
        os.kill(pid, 0)
        return json.loads(run_json.read_text()).get("status") in ("starting", "running")
    except (ProcessLookupError, OSError, ValueError):
        return False


def _job_infos(sweep_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Each job's run.json path and content (an empty dict where it is missing or unreadable)."""
    infos = []
    for job_dir in sorted((hydra_dir.parent for hydra_dir in sweep_dir.rglob(".hydra")), key=_job_order):
        try:
            infos.append((job_dir / "run.json", json.loads((job_dir / "run.json").read_text())))
        except (OSError, ValueError):
            infos.append((job_dir / "run.json", {}))
    return infos


class LocalRayCluster(Callback):
    """Starts the local Ray cluster of conf/hydra/launcher/ray_local.yaml before the launcher would.

    Its environment keeps every socket on 127.0.0.1 (Ray otherwise listens on all addresses, the
    machine's external one included) and sends no usage statistics; values already in the environment
    are kept. Starting it here, before `SweepMonitor` (listed after this callback), makes the monitor's
    SIGTERM handler the one in force: ray.init installs its own, which stops the cluster and the jobs
    at once, before they can write their files. The launcher then finds Ray running and uses it.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 0: Ray's node address is 127.0.0.1
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray  # only with this launcher's plugin installed

        ray.init(**OmegaConf.to_container(config.hydra.launcher.ray.init, resolve=True))


def started_sweep() -> Path | None:
    """The directory of the sweep this process launched, or None (a single run)."""
    return _started_sweeps[-1] if _started_sweeps else None


def summarize(sweep_dir: Path) -> tuple[list[str], int]:
    """One line counting the jobs by outcome, then one line for each job that did not complete;
    and how many failed."""
    if not sweep_dir.is_dir():  # Hydra could not even make it: its own error says why
        return [], 0
    outcomes: Counter[str] = Counter()
    problems = []
    for run_json, info in _job_infos(sweep_dir):
        name = run_json.parent.relative_to(sweep_dir)
        if not info:
            info = {"status": "not started", "error": f"no run.json; see {run_json.parent / 'asyncbench.log'}"}
        status = info.get("status", "unknown")
        outcomes[status] += 1
        if status == "skipped":
            continue
        if status != "completed":
            problems.append(f"  {status} {name}: {info.get('error') or 'stopped before the end'}")
    counts = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
    lines = [f"sweep {sweep_dir}: {sum(outcomes.values())} job(s): {counts or 'none started'}", *problems]
    if problems:
        lines.append("  run the same command again to rerun or continue these; completed jobs are skipped")
    return lines, outcomes["failed"] + outcomes["not started"]


def _job_order(job_dir: Path) -> tuple[int, str]:
    """Hydra's job number first (`12_seed=3` after `2_seed=1`), then the name."""
    number = job_dir.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else -1, job_dir.name)
