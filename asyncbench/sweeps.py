"""A sweep as a whole: SIGTERM reaches every job, and a summary of every job ends it.

Hydra runs its `on_multirun_end` callbacks only when every job succeeded, so the callback here
notes the sweep directory when the sweep starts, and `app` prints the summary however the sweep
ended (done, a job failed, interrupted), from the run.json files the jobs left. Launchers that run
jobs in processes of their own (joblib, submitit, Ray) do not pass SIGTERM on to them: the callback
does. Hydra's callbacks are why this module imports Hydra (as `asyncbench.config` lists); they are
named in conf/config.yaml and conf/hydra/launcher/ray_local.yaml.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from asyncbench.progress_bar import progress_bar

JOB_FINISH_SECONDS = 10  # beyond its workers' shutdown grace, for a job to write its files when stopped


# The launcher settings that sbatch's refusals name in words of their own ("sbatch: error: Memory
# specification can not be satisfied" for a mem_gb beyond every node's memory).
SLURMS_WORDS_FOR = {
    "mem_gb": ("Memory specification",),
    "cpus_per_task": ("CPU count per node", "More processors requested"),
    "timeout_min": ("time limit",),
}


class LauncherFailed(Exception):
    """The launcher failed outside every job (Slurm refusing the jobs, Ray failing to start); the
    message is one line naming the setting to change."""


@dataclass(frozen=True)
class Sweep:
    directory: Path
    launcher: str  # the hydra/launcher choice
    launcher_settings: dict[str, Any]  # hydra.launcher's settings by dotted name, as set (unresolved)

    def launcher_failed(self, error: BaseException) -> LauncherFailed:
        """`error`, raised by the launcher, as one line: its first line, then the launcher setting it
        names, if any (Ray says "object store memory" for ray.init.object_store_memory)."""
        reason = next((line.strip().rstrip(".") for line in str(error).splitlines() if line.strip()),
                      type(error).__name__)
        named = next((f"; check hydra.launcher.{name}={value}" for name, value in self.launcher_settings.items()
                      if _mentions(reason, name.rsplit(".", 1)[-1])
                      or any(words in reason for words in SLURMS_WORDS_FOR.get(name, ()))), "")
        return LauncherFailed(f"hydra/launcher={self.launcher} could not launch the jobs: {reason}{named}")


def _mentions(text: str, setting: str) -> bool:
    """Whether `text` names `setting` as a word, its underscores written as such or as spaces."""
    words = re.escape(setting.strip("_")).replace("_", "[_ ]")
    return re.search(rf"\b{words}\b", text, flags=re.IGNORECASE) is not None


_started_sweeps: list[Sweep] = []  # in the launching process, whichever launcher runs the jobs


class SweepMonitor(Callback):
    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        # As set: a value that fails to resolve is the launcher's failure to report, not this callback's.
        launcher = OmegaConf.to_container(config.hydra.launcher, resolve=False)
        _started_sweeps.append(Sweep(sweep_dir, config.hydra.runtime.choices.get("hydra/launcher", "basic"),
                                     _by_dotted_name(launcher)))
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


def _job_infos(sweep_dir: Path, description: str | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each job's run.json path and content (an empty dict where it is missing or unreadable); with a
    `description`, under a progress bar."""
    job_dirs = sorted((hydra_dir.parent for hydra_dir in sweep_dir.rglob(".hydra")), key=_job_order)
    for job_dir in job_dirs if description is None else progress_bar(job_dirs, description=description, unit="job"):
        try:
            yield job_dir / "run.json", json.loads((job_dir / "run.json").read_text())
        except (OSError, ValueError):
            yield job_dir / "run.json", {}


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

        try:
            ray.init(**OmegaConf.to_container(config.hydra.launcher.ray.init, resolve=True))
        except Exception:  # Hydra would print it as a warning: the launcher's own ray.init fails the same way,
            return  # and the sweep ends with that failure in one line


def _by_dotted_name(node: Any, prefix: str = "") -> dict[str, Any]:
    """The leaves of a nested dict by dotted name; `_target_` and the like left out."""
    leaves: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            leaves.update(_by_dotted_name(value, f"{prefix}{key}."))
        elif not (str(key).startswith("_") and str(key).endswith("_")):  # _target_: the plugin's class
            leaves[f"{prefix}{key}"] = value
    return leaves


def started_sweep() -> Sweep | None:
    """The sweep this process launched, or None (a single run)."""
    return _started_sweeps[-1] if _started_sweeps else None


def summarize(sweep_dir: Path) -> tuple[list[str], int]:
    """One line counting the jobs by outcome, then one line for each job that did not complete;
    and how many did not (a job that Slurm stopped alone ends interrupted, in a sweep that went on)."""
    if not sweep_dir.is_dir():  # Hydra could not even make it: its own error says why
        return [], 0
    outcomes: Counter[str] = Counter()
    problems = []
    for run_json, info in _job_infos(sweep_dir, description="reading the jobs' run.json"):
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
    return lines, len(problems)


def _job_order(job_dir: Path) -> tuple[int, str]:
    """Hydra's job number first (`12_seed=3` after `2_seed=1`), then the name."""
    number = job_dir.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else -1, job_dir.name)
