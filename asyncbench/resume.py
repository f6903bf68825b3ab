"""Resuming sweeps and runs: a job first looks for an earlier run of the same resolved config.

Running the same command again then skips the runs that completed, continues the interrupted and
failed ones from their last checkpoint (or starts them afresh where they left none), and runs the
new ones. Runs match by their resolved config, whatever their job number or directory, leaving out
the settings that change only how a run is operated (`OPERATIONAL_SETTINGS`). Earlier runs are
searched under `resume.root`, for jobs whose own directory lies under it; a job written elsewhere
(a test's temporary directory) is not part of those results, and looks only at its own directory.
A run already in a job's directory is never trained over, wherever that directory lies.
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
    """The job's directory holds a run that training there would write over: one of another config, or
    any run when resume.enabled=false."""


CHOOSE_ANOTHER = "choose another hydra.run.dir or hydra.sweep.dir, or move that run away"


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


def run_held_in(run_dir: Path, resolved_config: dict[str, Any]) -> dict[str, Any] | None:
    """What run.json says of the run `run_dir` holds, or None where it holds none (no readable run.json,
    a job refused before it started, a skipped job's record: nothing there to lose).

    Raises RunDirectoryTaken if that run is of another config: that happens when a fixed hydra.run.dir
    or hydra.sweep.dir is used again after a preset or a default changed, and the job would then train
    over, and lose, the run already there.
    """
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None  # no run there (or no readable one, which resume does not count either)
    earlier = info.get("config") if isinstance(info, dict) else None
    if not isinstance(earlier, dict):
        return None
    if run_identity(earlier) != identity_as_stored(resolved_config):
        raise RunDirectoryTaken(f"{run_dir} holds a {info.get('status', 'earlier')} run of another config; {CHOOSE_ANOTHER}")
    return None if info.get("status") == "skipped" else info


def _as_earlier_run(run_dir: Path, info: dict[str, Any]) -> EarlierRun | None:
    """The run `info` (its run.json) records, if it is one to skip (completed) or to continue (its
    checkpoint is there); else None."""
    if info.get("status") == "completed":
        return EarlierRun(run_dir, "completed", None)
    checkpoint = info.get("checkpoint")
    if info.get("status") in RESUMABLE and checkpoint and (run_dir / CHECKPOINT_NAME).exists():
        return EarlierRun(run_dir, info["status"], checkpoint["T"])
    return None


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
        earlier = _as_earlier_run(path.parent, info)
        if earlier is not None and earlier.status == "completed":
            return earlier
        if earlier is not None and (best is None or earlier.checkpoint_frames > best.checkpoint_frames):
            best = earlier
    return best


def run_job(config: Config, run_dir: Path, resolved_config: dict[str, Any], overrides: list[str],
            choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Skip, continue or start the job; return its summary (a skipped job's says where it completed).

    A run already in `run_dir` is never trained over: completed, the job is skipped; interrupted or
    failed, it continues from its checkpoint there. Under `resume.root` the job also skips or continues
    a run of the same config in another directory. `overrides` and `choices` (Hydra's config group
    choices) go into run.json as they are.
    Raises RunDirectoryTaken, and what `train` raises.
    """
    start = partial(train, config, run_dir, resolved_config, overrides, choices=choices)
    held = run_held_in(run_dir, resolved_config)
    if not config.resume.enabled:
        if held is not None:
            raise RunDirectoryTaken(f"{run_dir} holds a {held.get('status')} run, which resume.enabled=false would "
                                    f"train over; {CHOOSE_ANOTHER}")
        return start()
    here = _as_earlier_run(run_dir, held) if held is not None else None
    if here is not None and here.status == "completed":
        log.info("skipped: this job completed in %s before (to run it again: resume.enabled=false and another "
                 "hydra.run.dir or hydra.sweep.dir)", run_dir)
        return {"skipped": True, "completed_in": str(run_dir)}
    root = Path(config.resume.root)
    if run_dir.resolve().is_relative_to(root.resolve()):
        earlier = find_earlier_run(root, resolved_config)  # this directory's own run among them
    else:
        log.info("resume: %s is outside resume.root=%s, so only a run in it is continued", run_dir, root)
        earlier = here
    if earlier is None:
        return start()
    if earlier.status == "completed":
        log.info("skipped: the same config completed in %s (resume.enabled=false runs it again)", earlier.run_dir)
        summary = {"skipped": True, "completed_in": str(earlier.run_dir)}
        if held is None:  # an unfinished run here keeps its own run.json
            write_json_atomically(run_dir / "run.json", {"status": "skipped", "config": resolved_config,
                                                         "overrides": overrides, "summary": summary, "error": None})
        return summary
    return start(resume_from=earlier.run_dir)
