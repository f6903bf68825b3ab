"""What every method of the paper offers the actor-learner loop (Section 4): a rollout in, a loss out."""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import nn

from asyncbench.rollout import Rollout


class TrainingDiverged(RuntimeError):
    """The policy or the gradient holds NaN or inf: nothing the run learns from there on means anything."""


class Method:
    """One worker's (or the evaluator's) instance of a method. Subclasses implement `network`, `act`,
    `greedy_actions` (and `sampled_actions` if `samples_from_policy`) and `loss`; the hooks below do
    nothing unless a method needs them."""

    config_schema: type
    stat_names: tuple[str, ...] = ()
    uses_target_network = False  # True: the worker sets `target_network`, whose parameters are theta-
    samples_from_policy = True  # False: no stochastic policy for evaluation.policy=sampled
    continuous_actions = False  # True: actions are vectors of reals (game.kind=continuous), not indices
    rng: random.Random | None = None  # the method's own random stream, if any: checkpoints carry its state

    def __init__(self, config: Any, gamma: float, seed: int):
        self.gamma = gamma

    @staticmethod
    def network(config: Any, body: nn.Module, n_actions: int) -> nn.Module:
        raise NotImplementedError

    def act(self, network: nn.Module, observation: torch.Tensor) -> Any:
        """The action in one state: an index (discrete actions) or an array (continuous ones)."""
        raise NotImplementedError

    def greedy_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        """The greedy action in each of a batch of states, one per episode in play (the evaluator's)."""
        raise NotImplementedError

    def sampled_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        """An action drawn from the policy in each of a batch of states, one per episode in play."""
        raise NotImplementedError

    def loss(self, network: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def observe_frames(self, frames: int) -> None:
        """Called after every update with the global counter T."""

    def end_episode(self) -> None:
        """Called once the episode in progress has ended and its last rollout was learned from."""

    def start_episode(self, episodes: int = 1) -> None:
        """Called before the first step of every episode (the evaluator: of `episodes` played side by
        side): a recurrent method forgets the last one."""

    def keep_episodes(self, rows: list[int]) -> None:
        """Of the episodes the evaluator plays side by side, those at `rows` go on; the others have ended."""

    def details(self) -> dict[str, Any]:
        """What this worker's instance drew for itself (e.g. its epsilon), for run.json."""
        return {}
