"""The end of a sweep (issue 7): one summary of every job, the failed ones with why they failed.

Hydra runs its `on_multirun_end` callbacks only when every job succeeded, so the callback here only
notes the sweep directory when the sweep starts, and `__main__` prints the summary however the sweep
ended (done, a job failed, interrupted), from the run.json files the jobs left. With `__main__` and
`config`, this is the only module that imports Hydra: it is the Hydra callback named in conf/config.yaml.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

_started_sweeps: list[Path] = []  # in the launching process, whichever launcher runs the jobs


class SweepSummary(Callback):
    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _started_sweeps.append(Path(config.hydra.sweep.dir))


class LocalRayEnvironment(Callback):
    """Settles Ray's environment before the launcher starts a local cluster (conf/hydra/launcher/ray_local.yaml):
    every socket on 127.0.0.1 (Ray otherwise listens on all addresses, the machine's external one
    included) and no usage statistics sent. Values already in the environment are kept."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 0: Ray's node address is 127.0.0.1
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


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
    for job_dir in sorted((hydra_dir.parent for hydra_dir in sweep_dir.rglob(".hydra")), key=_job_order):
        name = job_dir.relative_to(sweep_dir)
        try:
            info = json.loads((job_dir / "run.json").read_text())
        except (OSError, ValueError):
            info = {"status": "not started", "error": f"no run.json; see {job_dir / 'asyncbench.log'}"}
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
