"""Resuming sweeps and runs: a job first looks for an earlier run of the same resolved config.

Running the same command again then skips the runs that completed, continues the interrupted and
failed ones from their last checkpoint (or starts them afresh where they left none), and runs the
new ones. Runs match by their resolved config, whatever their job number or directory, leaving out
the settings that change only how a run is operated (`OPERATIONAL_SETTINGS`). Earlier runs are
searched under `resume.root`, for jobs whose own directory lies under it: a job written elsewhere
(a test's temporary directory) is not part of those results and always starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from asyncbench.checkpoint import CHECKPOINT_NAME
from asyncbench.config import OPERATIONAL_SETTINGS, Config
from asyncbench.records import write_json_atomically
from asyncbench.trainer import train

log = logging.getLogger(__name__)

RESUMABLE = ("interrupted", "failed", "running", "starting")  # running/starting: its main process was killed


class RunDirectoryTaken(Exception):
    """The job's directory holds a run of another config, which training there would write over."""


@dataclass(frozen=True)
class EarlierRun:
    run_dir: Path
    status: str
    checkpoint_frames: int | None  # T of its checkpoint; None when it has none


def run_identity(resolved_config: dict[str, Any]) -> str:
    """A digest of the resolved config without `OPERATIONAL_SETTINGS` and without settings that are null,
    as run.json stores it: a setting added later with a null default that keeps the earlier behaviour
    (as `algorithm.policy_init_scale`) leaves the runs made before it the same runs."""
    kept = _without_nulls(resolved_config)  # new dicts throughout: the pops below leave the argument be
    for setting in OPERATIONAL_SETTINGS:
        *parents, name = setting.split(".")
        node = kept
        for parent in parents:
            node = node.get(parent, {})
        node.pop(name, None)
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def identity_as_stored(resolved_config: dict[str, Any]) -> str:
    """`run_identity` of a config as run.json stores it (values JSON cannot hold become strings)."""
    return run_identity(json.loads(json.dumps(resolved_config, default=str)))


def _without_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_nulls(value) for key, value in node.items() if value is not None}
    return node


def refuse_a_run_of_another_config(run_dir: Path, resolved_config: dict[str, Any]) -> None:
    """Raise RunDirectoryTaken if `run_dir` holds a run of another config.

    That happens when a fixed hydra.run.dir or hydra.sweep.dir is used again after a preset or a default
    changed: the job would then train over, and lose, the run already there.
    """
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return  # no run there (or no readable one, which resume does not count either)
    earlier = info.get("config") if isinstance(info, dict) else None
    if isinstance(earlier, dict) and run_identity(earlier) != identity_as_stored(resolved_config):
        raise RunDirectoryTaken(f"{run_dir} holds a {info.get('status', 'earlier')} run of another config; "
                                "choose another hydra.run.dir or hydra.sweep.dir, or move that run away")


def find_earlier_run(root: Path, resolved_config: dict[str, Any]) -> EarlierRun | None:
    """The run of the same config under `root` that got furthest: a completed one, else the one whose
    checkpoint has the highest T, else None (nothing to continue)."""
    identity = identity_as_stored(resolved_config)
    best: EarlierRun | None = None
    for path in root.rglob("run.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # unreadable or half-written by a tool other than asyncbench: not a run to resume
        if not isinstance(info.get("config"), dict) or run_identity(info["config"]) != identity:
            continue
        if info.get("status") == "completed":
            return EarlierRun(path.parent, "completed", None)
        checkpoint = info.get("checkpoint")
        if info.get("status") in RESUMABLE and checkpoint and (path.parent / CHECKPOINT_NAME).exists():
            if best is None or checkpoint["T"] > best.checkpoint_frames:
                best = EarlierRun(path.parent, info["status"], checkpoint["T"])
    return best


def run_job(config: Config, run_dir: Path, resolved_config: dict[str, Any], overrides: list[str],
            choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Skip, continue or start the job; return its summary (a skipped job's says where it completed).

    `overrides` and `choices` (Hydra's config group choices) go into run.json as they are.
    Raises RunDirectoryTaken, and what `train` raises.
    """
    start = partial(train, config, run_dir, resolved_config, overrides, choices=choices)
    refuse_a_run_of_another_config(run_dir, resolved_config)
    root = Path(config.resume.root)
    if not config.resume.enabled:
        return start()
    if not run_dir.resolve().is_relative_to(root.resolve()):
        log.info("resume: %s is outside resume.root=%s, so this job starts afresh", run_dir, root)
        return start()
    earlier = find_earlier_run(root, resolved_config)
    if earlier is None:
        return start()
    if earlier.status == "completed" and earlier.run_dir.resolve() == run_dir.resolve():
        # The same sweep directory again (a fixed hydra.sweep.dir): the run is there; leave it be.
        log.info("skipped: this job completed here before (resume.enabled=false runs it again)")
        return {"skipped": True, "completed_in": str(run_dir)}
    if earlier.status == "completed":
        log.info("skipped: the same config completed in %s (resume.enabled=false runs it again)", earlier.run_dir)
        summary = {"skipped": True, "completed_in": str(earlier.run_dir)}
        write_json_atomically(run_dir / "run.json", {"status": "skipped", "config": resolved_config,
                                                     "overrides": overrides, "summary": summary, "error": None})
        return summary
    return start(resume_from=earlier.run_dir)
