"""`python -m asyncbench [overrides]`: the command line, and the only `@hydra.main`."""

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
from asyncbench.errors import explain
from asyncbench.resume import run_job
from asyncbench.sweeps import started_sweep, summarize
from asyncbench.trainer import RunFailed


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def run(cfg: DictConfig) -> None:
    hydra_config = HydraConfig.get()
    try:
        run_job(
            to_config(cfg),
            run_dir=Path(hydra_config.runtime.output_dir),
            resolved_config=OmegaConf.to_container(cfg, resolve=True),
            overrides=list(hydra_config.overrides.task),
        )
    except (ConfigError, RunFailed) as error:
        if hydra_config.mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed job, runs the others, and the sweep exits 1
        exit_with(error)


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
            report_sweep()
    except KeyboardInterrupt:
        print("asyncbench: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if full_error:
            raise
        exit_with(error)


def report_sweep() -> None:
    """After a sweep (however it ended), list its jobs' outcomes; the failed ones with why."""
    sweep_dir = started_sweep()
    if sweep_dir is not None:
        for line in summarize(sweep_dir):
            print(f"asyncbench: {line}", file=sys.stderr)


def exit_with(error: BaseException) -> None:
    message, code = explain(error)
    print(f"asyncbench: error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
