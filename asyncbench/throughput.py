"""The throughput one actor-learner could reach on this machine: the limit a run is compared with.

The limit adds up the parts of a worker's work, each timed alone on one torch thread:

    seconds per agent step = env step (with the game's preprocessing)
                           + a batch-1 forward to act
                           + (forward+backward over a t_max rollout + gradient clip + optimizer step) / t_max

and turns it into emulator frames per second. Whatever a run loses beyond that (Python glue,
syncing theta', sending records, contention between processes) shows as a ratio below 1.

The same parts are also timed in sequence, as a worker runs them (t_max times an env step and an
act, then the update), still without sharing or records: the "sequence" limit. Between the two
lies what the parts cost each other when they alternate on one core (caches they evict); between
the sequence limit and a run lies the worker's own overhead.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
import torch

from asyncbench.algorithms import ALGORITHMS
from asyncbench.config import Config
from asyncbench.envs import frames_per_step, make_env
from asyncbench.learner import build_network, make_learner
from asyncbench.rollout import Rollout
from asyncbench.shared import SharedState
from asyncbench.worker import compute_gradient, pin_to_core


def seconds_per_call(work: Callable[[], object], seconds: float) -> float:
    """Mean wall-clock seconds per call of `work`, calling it for about `seconds` after a warm-up."""
    for _ in range(3):
        work()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        calls += 1
    return elapsed / calls


def measure_limit(config: Config, seconds_per_part: float = 3.0) -> dict[str, float]:
    """Time each part of one worker's work for `config`; return the parts and the limit in frames/s.

    Measured as a worker runs: on one torch thread and, when `config.pin_workers`, on one core.
    """
    threads, cores = torch.get_num_threads(), os.sched_getaffinity(0)
    torch.set_num_threads(1)
    if config.pin_workers:
        pin_to_core(0)
    try:
        return _measure(config, seconds_per_part)
    finally:
        torch.set_num_threads(threads)
        os.sched_setaffinity(0, cores)


def _measure(config: Config, seconds: float) -> dict[str, float]:
    env = make_env(config.game, config.atari, seed=config.seed)

    def env_step() -> torch.Tensor:
        """A random step, and the observation as the actor converts it."""
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()
        return torch.as_tensor(np.array(observation))

    env_seconds = seconds_per_call(env_step, seconds)

    network = build_network(config, env.observation_space.shape, int(env.action_space.n))
    uses_target = ALGORITHMS[config.algorithm.name].uses_target_network
    shared = SharedState.create(torch.multiprocessing, network, config.optimizer, uses_target)
    method, local, optimizer = make_learner(config, shared, env, config.seed)
    frames = [env_step() for _ in range(config.t_max + 1)]
    rollout = Rollout(observations=torch.stack(frames[:-1]), actions=torch.zeros(config.t_max, dtype=torch.long),
                      rewards=[0.0] * config.t_max, next_observation=frames[-1], terminal=False)

    def update() -> None:
        compute_gradient(method, local, rollout, config.max_grad_norm)
        optimizer.step(local.gradient, 1e-12)  # a tiny step: the parameters stay where they are

    def rollout_in_sequence() -> None:
        for _ in range(config.t_max):
            method.act(local.module, env_step())
        update()

    act_seconds = seconds_per_call(lambda: method.act(local.module, frames[0]), seconds)
    update_seconds = seconds_per_call(update, seconds)
    sequence_seconds = seconds_per_call(rollout_in_sequence, seconds)
    env.close()

    step_seconds = env_seconds + act_seconds + update_seconds / config.t_max
    frames_per_agent_step = frames_per_step(config.game, config.atari)
    return {
        "env_steps_per_second": 1.0 / env_seconds,
        "act_ms": 1e3 * act_seconds,
        "update_ms": 1e3 * update_seconds,
        "limit_frames_per_second": frames_per_agent_step / step_seconds,
        "sequence_frames_per_second": frames_per_agent_step * config.t_max / sequence_seconds,
    }
