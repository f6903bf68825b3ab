"""Typed configuration: the schema behind `conf/`, registered in Hydra's ConfigStore.

Every value lives in the YAML files under `conf/` (each key commented there with its unit and the
paper's value); the dataclasses below only give types and the allowed range of each field, so a bad
value fails before any process starts with one line naming the field, the value and what is allowed.
Hydra and OmegaConf are imported here, in `schema` (the schemas are OmegaConf's structured configs),
`app` (the command line), `errors` (their errors as one line) and `sweeps` (Hydra's callbacks), and nowhere
else: the rest of the package receives the plain `Config` dataclass built once by `to_config`. (The schemas cannot be
frozen dataclasses: OmegaConf makes those read-only and Hydra could not merge the YAML into them.)
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from asyncbench.algorithms import ALGORITHMS
from asyncbench.atari import catalogue
from asyncbench.optimizers import OPTIMIZERS
from asyncbench.schema import Check, ConfigError, above, at_least, between, checked, one_of, validate

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# How a run is operated (logging, checkpoints, resuming, pinning), not what it computes: runs that differ
# only in these are the same run to resume (asyncbench.resume) and the same condition to analyse
# (analysis.loading). A dotted name is a nested setting.
OPERATIONAL_SETTINGS = (
    "resume", "checkpoint_interval_seconds", "worker_restarts", "status_interval_seconds", "progress_interval_seconds",
    "worker_stats_interval_seconds", "shutdown_grace_seconds", "pin_workers", "evaluation.final_timeout_seconds",
    "logger",
)


# --------------------------------------------------------------------------------------------------
# Groups: game, model, optimizer, algorithm


@dataclass
class MinAtarConfig:
    sticky_action_probability: float = checked(between(0.0, 1.0))
    difficulty_ramping: bool = MISSING
    max_episode_steps: int = checked(at_least(1, "an integer"))


@dataclass
class GameConfig:
    name: str = MISSING
    env_id: str = MISSING
    kind: str = checked(one_of("atari", "classic", "minatar", "continuous"))
    reward_scale: float = checked(above(0.0))
    # Classic control only: keep these entries of the observation vector, to hide the others (null: all).
    observed_indices: Optional[list[int]] = None
    minatar: Optional[MinAtarConfig] = None  # MinAtar only (conf/minatar.yaml)


@dataclass
class AtariConfig:
    frame_skip: int = checked(at_least(1, "an integer"))
    frame_stack: int = checked(at_least(1, "an integer"))
    screen_size: int = checked(at_least(8, "an integer"))
    noop_max: int = checked(at_least(0, "an integer"))
    max_episode_frames: int = checked(at_least(1, "an integer"))
    repeat_action_probability: float = checked(between(0.0, 1.0))
    terminal_on_life_loss: bool = MISSING
    clip_rewards: bool = MISSING
    # Keep only screen rows top..bottom-1 (of 210) before resizing; null keeps the whole screen.
    crop_rows: Optional[list[int]] = field(default=None, metadata={"check": Check(
        lambda v: len(v) == 2 and 0 <= v[0] < v[1] <= 210, "[top, bottom] with 0 <= top < bottom <= 210")})


# The networks (`model=`) that fit each kind of game, and what that kind observes.
MODELS_FOR_OBSERVATIONS = {"classic": ("mlp",), "atari": ("small", "nature", "universe"), "minatar": ("minatar",),
                           "continuous": ("mlp",)}
OBSERVATIONS = {"classic": "vector observations", "atari": "frames", "minatar": "MinAtar grids",
                "continuous": "state vectors"}


@dataclass
class ModelConfig:
    name: str = checked(one_of(*(model for models in MODELS_FOR_OBSERVATIONS.values() for model in models)))
    hidden_sizes: list[int] = field(default_factory=list)  # mlp only
    input_normalization: str = field(default="scale", metadata={"check": one_of("scale", "standardize", "none")})  # frames, grids


@dataclass
class EvaluationConfig:
    enabled: bool = MISSING
    interval_frames: Optional[int] = field(default=None, metadata={"check": at_least(1, "an integer")})
    episodes: int = checked(at_least(1, "an integer"))
    side_by_side: int = checked(at_least(1, "an integer"))
    policy: str = checked(one_of("sampled", "greedy", "epsilon"))
    epsilon: float = checked(between(0.0, 1.0))
    cpu_share: float = checked(Check(lambda v: 0 < v <= 1, "a number in (0, 1]"))
    stop_score: Optional[float] = None
    final: bool = MISSING
    final_timeout_seconds: float = checked(above(0.0))
    seed_offset: int = checked(at_least(0, "an integer"))


@dataclass
class LoggerConfig:
    tensorboard: bool = MISSING


@dataclass
class ResumeConfig:
    enabled: bool = MISSING
    root: str = checked(Check(lambda v: bool(v.strip()), "a directory"))


# --------------------------------------------------------------------------------------------------
# The whole run


# Training episodes whose returns the trainer keeps: the status line and summary average them (as
# gymnasium's "solved" does), and stop_return averages the last stop_return_episodes of them.
RECENT_EPISODES = 100


@dataclass
class Config:
    algorithm: Any = MISSING
    game: GameConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: Any = MISSING
    atari: AtariConfig = MISSING
    evaluation: EvaluationConfig = MISSING
    resume: ResumeConfig = MISSING
    logger: LoggerConfig = MISSING

    threads: int = checked(at_least(1, "an integer"))
    t_max: Optional[int] = field(default=None, metadata={"check": at_least(1, "an integer")})  # null: whole episodes
    seed: int = checked(at_least(0, "an integer"))
    lr: float = checked(above(0.0))
    lr_schedule: str = checked(one_of("linear", "constant"))
    gamma: float = checked(between(0.0, 1.0))
    max_grad_norm: Optional[float] = field(default=None, metadata={"check": above(0.0)})
    frames: int = checked(at_least(1, "an integer"))
    max_seconds: Optional[float] = field(default=None, metadata={"check": above(0.0)})
    stop_return: Optional[float] = None
    stop_return_episodes: int = checked(between(1, RECENT_EPISODES, "an integer"))

    start_method: str = checked(one_of("spawn", "forkserver", "fork"))
    pin_workers: bool = MISSING
    status_interval_seconds: float = checked(above(0.0))
    progress_interval_seconds: float = checked(above(0.0))
    worker_stats_interval_seconds: float = checked(above(0.0))
    shutdown_grace_seconds: float = checked(above(0.0))
    checkpoint_interval_seconds: Optional[float] = field(default=None, metadata={"check": above(0.0)})
    worker_restarts: int = checked(at_least(0, "an integer"))


def register_schemas() -> None:
    """Store the schemas under `schema/...`, where the YAML files name them in their defaults,
    and every Atari game of the paper that has no YAML file of its own in `conf/game/`."""
    OmegaConf.register_new_resolver("log_uniform", log_uniform, replace=True)
    OmegaConf.register_new_resolver("jobs_that_fit", jobs_that_fit, replace=True)
    OmegaConf.register_new_resolver("cores_for_job", cores_for_job, replace=True)
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="schema/game", name="game", node=GameConfig)
    store.store(group="schema/model", name="model", node=ModelConfig)
    for name, optimizer in OPTIMIZERS.items():
        store.store(group="schema/optimizer", name=name, node=optimizer.config_schema)
    for name, algorithm in ALGORITHMS.items():
        store.store(group="schema/algorithm", name=name, node=algorithm.config_schema)
    for game in catalogue().values():
        if not (CONF_DIR / "game" / f"{game.game}.yaml").exists():
            store.store(group="game", name=game.game, node=atari_game_node(game.game, game.env_id))


def log_uniform(low: float, high: float, seed: int) -> float:
    """A value drawn from LogUniform(low, high), the same every time for the same seed.

    The `${log_uniform:1e-4,1e-2,${seed}}` of conf/lr_sampling/log_uniform.yaml: the paper draws each
    run's learning rate so (S8; Figures 2, S5, S11), and a seed sweep then draws 50 rates reproducibly.
    """
    u = random.Random(f"log_uniform:{seed}").random()  # a string seed hashes the same in every process
    return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def cores_for_job(threads: int) -> int:
    """The cores a job of `threads` actor-learners asks for: one each, at most this machine's usable
    cores (a local Ray cluster never schedules a job asking for more than it has)."""
    return min(threads, len(os.sched_getaffinity(0)))


def jobs_that_fit(threads: int) -> int:
    """How many jobs of `threads` actor-learners fit this machine's usable cores at once (at least 1)."""
    return len(os.sched_getaffinity(0)) // cores_for_job(threads)


def atari_game_node(name: str, env_id: str) -> dict[str, Any]:
    """The config of an Atari game, as conf/game/pong.yaml spells it out for Pong."""
    return {
        "defaults": ["/schema/game/game@_here_", {"override /model@_global_.model": "small"}, "_self_"],
        "name": name,
        "env_id": env_id,
        "kind": "atari",
        "reward_scale": 1.0,
    }


def to_config(cfg: DictConfig) -> Config:
    """Convert Hydra's composed config once into the validated `Config`."""
    config = OmegaConf.to_object(cfg)
    assert isinstance(config, Config)
    validate(config)
    check_compatible(config)
    return config


def check_compatible(config: Config) -> None:
    """Cross-field rules that a single field's range cannot express."""
    if config.evaluation.policy == "sampled" and not ALGORITHMS[config.algorithm.name].samples_from_policy:
        raise ConfigError(
            f"evaluation.policy=sampled does not fit algorithm={config.algorithm.name} (no stochastic policy): "
            "expected greedy or epsilon"
        )
    if config.evaluation.enabled and config.evaluation.seed_offset < config.threads:
        raise ConfigError(
            f"evaluation.seed_offset={config.evaluation.seed_offset} is not allowed with threads={config.threads}: "
            f"expected an integer >= {config.threads} (workers use seeds seed*1000 + 0 .. threads-1)"
        )
    game = config.game
    _check_action_kind(config)
    if game.observed_indices is not None:
        _check_observed_indices(game)
    if game.kind == "minatar" and game.minatar is None:
        raise ConfigError(f"game.minatar=null does not fit game={game.name} (MinAtar): expected MinAtar's settings "
                          "(a game config that starts from /minatar@_here_, as conf/game/minatar_breakout.yaml)")
    fitting = MODELS_FOR_OBSERVATIONS[game.kind]
    if config.model.name not in fitting:
        choices = ", ".join(fitting[:-1]) + " or " + fitting[-1] if len(fitting) > 1 else fitting[0]
        raise ConfigError(f"model={config.model.name} does not fit game={game.name} ({OBSERVATIONS[game.kind]}): "
                          f"expected model={choices}")


def _check_action_kind(config: Config) -> None:
    """A Gaussian policy for continuous actions (game.kind=continuous), any other method for discrete ones."""
    continuous = ALGORITHMS[config.algorithm.name].continuous_actions
    if continuous == (config.game.kind == "continuous"):
        if continuous and config.evaluation.policy == "epsilon":
            raise ConfigError(f"evaluation.policy=epsilon does not fit algorithm={config.algorithm.name} (continuous "
                              "actions): expected greedy (the mean action) or sampled")
        return
    fitting = [name for name, method in ALGORITHMS.items() if method.continuous_actions != continuous]
    actions = "continuous" if config.game.kind == "continuous" else "discrete"
    raise ConfigError(f"algorithm={config.algorithm.name} does not fit game={config.game.name} ({actions} actions): "
                      f"expected algorithm={' or '.join(fitting)}")


def _check_observed_indices(game: GameConfig) -> None:
    import gymnasium as gym

    if game.kind != "classic":
        raise ConfigError(f"game.observed_indices does not fit game={game.name} (frames): expected null")
    size = gym.make(game.env_id).observation_space.shape[0]
    indices = list(game.observed_indices)
    if not indices or len(set(indices)) < len(indices) or not all(0 <= index < size for index in indices):
        raise ConfigError(f"game.observed_indices={game.observed_indices} is not allowed for {game.env_id}: "
                          f"expected distinct indices in 0..{size - 1}")


def compose_config(overrides: tuple[str, ...] | list[str] = (), with_hydra: bool = False) -> DictConfig:
    """Compose `conf/config.yaml` with command-line style overrides, as the app does; `with_hydra` keeps
    Hydra's own node (`hydra.sweeper.params`: what a preset sweeps over)."""
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=with_hydra)


def load_config(overrides: tuple[str, ...] | list[str] = ()) -> Config:
    return to_config(compose_config(overrides))


def rebuild_config(overrides: list[str], resolved_config: dict[str, Any],
                   changes: tuple[str, ...] | list[str] = ()) -> Config:
    """The config of an earlier run, from the `overrides` and `resolved_config` its run.json holds, with
    `changes` (`key=value`, as on the command line) applied."""
    # Composing the run's own overrides types each group (algorithm, optimizer) by its schema; the
    # run's resolved values then replace today's defaults, which may have changed since.
    cfg = OmegaConf.merge(compose_config(overrides), resolved_config, OmegaConf.from_dotlist(list(changes)))
    return to_config(cfg)
