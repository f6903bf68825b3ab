"""What an actor-learner learns with: its network, its method, its optimizer over the shared
parameters, and the learning rate at T. The worker, the evaluator, the main process and the
throughput limit build them the same way from here."""

from __future__ import annotations

from typing import Any

import torch

from asyncbench.algorithms import ALGORITHMS
from asyncbench.config import Config
from asyncbench.envs import action_size
from asyncbench.models import build_body
from asyncbench.shared import LocalNetwork, SharedState, target_network


def annealed_lr(config: Config, frames: int) -> float:
    """The learning rate at T = `frames`: annealed linearly to 0 over the frame budget (S8), or constant."""
    if config.lr_schedule == "constant":
        return config.lr
    return config.lr * max(0.0, 1.0 - frames / config.frames)


def build_network(config: Config, observation_shape: tuple[int, ...], n_actions: int) -> torch.nn.Module:
    method = ALGORITHMS[config.algorithm.name]
    return method.network(config.algorithm, build_body(config.model, observation_shape), n_actions)


def make_learner(config: Config, shared: SharedState, env: Any, seed: int,
                 rank: int | None = None) -> tuple[Any, LocalNetwork, Any]:
    """A worker's method instance, its local network theta' and its optimizer over the shared theta
    (worker `rank`'s statistics); the method's target network, where it has one, reads the shared theta-."""
    shape, n_actions = env.observation_space.shape, action_size(env.action_space)
    method = ALGORITHMS[config.algorithm.name](config.algorithm, config.gamma, seed)
    if method.uses_target_network:
        method.target_network = target_network(build_network(config, shape, n_actions), shared)
    return method, LocalNetwork(build_network(config, shape, n_actions)), shared.make_optimizer(config.optimizer, rank)
