"""The command line `python -m asyncbench [overrides]` runs (asyncbench.__main__), and the only `@hydra.main`."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from asyncbench.config import CONF_DIR, ConfigError, register_schemas, to_config
from asyncbench.errors import exit_with, explain
from asyncbench.records import write_json_atomically
from asyncbench.resume import RunDirectoryTaken, run_job
from asyncbench.sweeps import started_sweep, summarize
from asyncbench.trainer import RunFailed
from asyncbench.worker import cores_not_all_this_jobs

log = logging.getLogger(__name__)

# Launchers that run several jobs of a sweep at once on one machine (joblib; submitit's local executor;
# Ray, several jobs a node). Each job would pin its worker i to core i: their workers would share cores.
LAUNCHERS_SHARING_A_MACHINE = (".JoblibLauncher", ".LocalLauncher", ".RayLauncher")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def run(cfg: DictConfig) -> None:
    hydra_config = HydraConfig.get()
    try:
        config, resolved_config = to_config(cfg), OmegaConf.to_container(cfg, resolve=True)
        unpinned = why_not_pin(hydra_config.launcher._target_) if config.pin_workers else None
        if unpinned:
            log.info("pin_workers=false: %s", unpinned)
            config.pin_workers = resolved_config["pin_workers"] = False
        # A relative resume.root is the launch directory's, wherever the launcher runs the job (Ray: elsewhere).
        config.resume.root = str(Path(hydra_config.runtime.cwd, config.resume.root))
        # The config groups chosen, Hydra's own (hydra/launcher, ...) aside: the analysis tells a drawn
        # learning rate (lr_sampling) from a set one by them.
        choices = {group: choice for group, choice in hydra_config.runtime.choices.items()
                   if not group.startswith("hydra")}
        run_job(config, run_dir=Path(hydra_config.runtime.output_dir), resolved_config=resolved_config,
                overrides=list(hydra_config.overrides.task), choices=choices)
    except KeyboardInterrupt:
        if hydra_config.mode != RunMode.MULTIRUN or started_sweep() is not None or "SLURM_JOB_ID" not in os.environ:
            raise
        # A job of a sweep that Slurm runs, stopped alone (scancel, its time limit): it returns, so that
        # the launcher, which waits on every job's result, goes on; its run.json says interrupted, and
        # the sweep's summary lists it.
        log.error("interrupted: run the same command again to continue from the checkpoint")
    except (ConfigError, RunFailed, RunDirectoryTaken) as error:
        if hydra_config.mode != RunMode.MULTIRUN:
            exit_with(error)
        if isinstance(error, RunDirectoryTaken):
            raise  # the run there keeps its run.json; the sweep stops, as at a bad command line
        # A job of a sweep that fails returns normally, so that Hydra launches every later batch of
        # jobs too; its run.json says why, for the summary at the end, and the sweep then exits 1.
        log.error("%s", error)
        if isinstance(error, ConfigError):  # nothing started, so there is no run.json yet
            write_json_atomically(Path(hydra_config.runtime.output_dir) / "run.json",
                                  {"status": "failed", "error": str(error), "overrides": list(hydra_config.overrides.task)})
    except Exception as error:
        # Marked, to tell it in `main` from the launcher's own failure, wherever the launcher ran this job
        # (pickled with the error where the launcher runs jobs in processes of their own).
        error.raised_by_a_job = True
        raise


def why_not_pin(launcher: str) -> str | None:
    """Why this job's workers must not be pinned to cores, or None."""
    if launcher.endswith(LAUNCHERS_SHARING_A_MACHINE):
        return "this launcher runs jobs at once, whose workers would share pinned cores"
    return cores_not_all_this_jobs(len(os.sched_getaffinity(0)), os.environ)


def main() -> None:
    """Run the app; print a bad setting or a failed run as one line (HYDRA_FULL_ERROR=1: full trace)."""
    register_schemas()
    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    logging.raiseExceptions = False  # a full disk must not turn every later log line into a traceback
    try:
        try:
            run()
        finally:
            unfinished = report_sweep()
        if unfinished:
            print(f"asyncbench: error: {unfinished} job(s) of the sweep did not complete (listed above)", file=sys.stderr)
            sys.exit(1)
    except KeyboardInterrupt:
        print("asyncbench: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if full_error:
            raise
        sweep = started_sweep()
        if sweep is not None and explain(error) is None and not getattr(error, "raised_by_a_job", False):
            error = sweep.launcher_failed(error)
        exit_with(error)


def report_sweep() -> int:
    """After a sweep (however it ended), list its jobs' outcomes, the unfinished ones with why; return
    how many did not complete (0 after a single run)."""
    sweep = started_sweep()
    if sweep is None:
        return 0
    lines, unfinished = summarize(sweep.directory)
    for line in lines:
        print(f"asyncbench: {line}", file=sys.stderr)
    return unfinished

