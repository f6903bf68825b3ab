"""`python -m asyncbench [overrides]`: the command line, and the only `@hydra.main`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from asyncbench.config import CONF_DIR, ConfigError, register_schemas, to_config
from asyncbench.errors import explain
from asyncbench.trainer import RunFailed, train


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def run(cfg: DictConfig) -> None:
    hydra_config = HydraConfig.get()
    try:
        train(
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
    try:
        run()
    except KeyboardInterrupt:
        print("asyncbench: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if full_error:
            raise
        exit_with(error)


def exit_with(error: BaseException) -> None:
    message, code = explain(error)
    print(f"asyncbench: error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
