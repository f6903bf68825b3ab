"""What the paper's value-based methods share (Section 4, Algorithms 1 and S2, S8): a Q-network,
a shared target network theta-, epsilon-greedy exploration with a final epsilon drawn per worker,
and the squared TD loss. Each method only says how it bootstraps (`targets`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from asyncbench.algorithms.base import Method
from asyncbench.rollout import Rollout
from asyncbench.schema import AlgorithmConfig, Check, at_least, between, checked, one_of


@dataclass
class ValueBasedConfig(AlgorithmConfig):
    target_interval: int = checked(at_least(1, "an integer"))
    target_interval_unit: str = checked(one_of("frames", "steps"))
    epsilon_start: float = checked(between(0.0, 1.0))
    epsilon_finals: list[float] = field(default_factory=list)
    epsilon_probabilities: list[float] = field(
        default_factory=list, metadata={"check": Check(lambda v: abs(sum(v) - 1) < 1e-6, "probabilities summing to 1")})
    epsilon_anneal_frames: int = checked(at_least(1, "an integer"))
    epsilon_resample_episodes: Optional[int] = field(default=None, metadata={"check": at_least(1, "an integer")})


class QNetwork(nn.Module):
    """Q(s, a; theta): one linear output per action on top of the body (S8)."""

    def __init__(self, body: nn.Module, n_actions: int):
        super().__init__()
        self.body = body
        self.q = nn.Linear(body.out_features, n_actions)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.q(self.body(observations))


class Exploration:
    """A worker's epsilon: annealed linearly from `epsilon_start` to a final value drawn from
    `epsilon_finals` with `epsilon_probabilities` over the first `epsilon_anneal_frames` of the
    global T (S8: 1 to {0.1, 0.01, 0.5} with probabilities {0.4, 0.3, 0.3} over 4 million frames).
    The final value is drawn again every `epsilon_resample_episodes` episodes (never when null)."""

    def __init__(self, config: ValueBasedConfig, rng: random.Random):
        self.config = config
        self.rng = rng
        self.episodes = 0
        self.finals_drawn = [self._draw()]

    def _draw(self) -> float:
        return self.rng.choices(self.config.epsilon_finals, weights=self.config.epsilon_probabilities)[0]

    def epsilon(self, frames: int) -> float:
        progress = min(1.0, frames / self.config.epsilon_anneal_frames)
        return self.config.epsilon_start + progress * (self.finals_drawn[-1] - self.config.epsilon_start)

    def end_episode(self) -> None:
        self.episodes += 1
        every = self.config.epsilon_resample_episodes
        if every is not None and self.episodes % every == 0:
            self.finals_drawn.append(self._draw())


class ValueBased(Method):
    """The squared TD error summed over the rollout, sum_i (y_i - Q(s_i, a_i; theta'))^2 (Algorithms 1, S2)."""

    stat_names = ("td_loss", "q_mean", "epsilon")
    uses_target_network = True
    samples_from_policy = False

    def __init__(self, config: ValueBasedConfig, gamma: float, seed: int):
        super().__init__(config, gamma, seed)
        self.rng = random.Random(seed)
        self.exploration = Exploration(config, self.rng)
        self.frames = 0
        self.target_network: nn.Module | None = None  # set by the worker: its parameters are theta-

    @staticmethod
    def network(config: ValueBasedConfig, body: nn.Module, n_actions: int) -> nn.Module:
        return QNetwork(body, n_actions)

    @torch.no_grad()
    def greedy_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        return network(observations).argmax(dim=-1)

    def act(self, network: nn.Module, observation: torch.Tensor) -> int:
        """Epsilon-greedy with respect to Q(s, .; theta') (Algorithm 1)."""
        if self.rng.random() < self.exploration.epsilon(self.frames):
            return self.rng.randrange(network.q.out_features)
        return int(self.greedy_actions(network, observation[None])[0])

    def loss(self, network: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, dict[str, float]]:
        q_taken = network(rollout.observations).gather(1, rollout.actions[:, None]).squeeze(1)
        with torch.no_grad():
            y = self.targets(network, rollout)
        td_loss = (y - q_taken).pow(2).sum()
        stats = {"td_loss": td_loss.detach().item(), "q_mean": q_taken.detach().mean().item(),
                 "epsilon": self.exploration.epsilon(self.frames)}
        return td_loss, stats

    def targets(self, network: nn.Module, rollout: Rollout) -> torch.Tensor:
        """y_i for each step of the rollout, computed without gradient."""
        raise NotImplementedError

    def next_states(self, rollout: Rollout) -> torch.Tensor:
        """s_{i+1} for every step i of the rollout."""
        return torch.cat([rollout.observations[1:], rollout.next_observation[None]])

    def observe_frames(self, frames: int) -> None:
        self.frames = frames

    def end_episode(self) -> None:
        self.exploration.end_episode()

    def details(self) -> dict[str, Any]:
        return {"epsilon_finals": list(self.exploration.finals_drawn)}
