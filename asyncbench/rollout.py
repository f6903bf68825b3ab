"""A rollout of up to t_max steps: what every method of the paper turns into a loss (Section 4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Rollout:
    """Steps t_start .. t-1 of one actor-learner, and the state s_t it reached.

    Attributes:
        observations: s_{t_start} .. s_{t-1}, stacked along the first dimension.
        actions: a_{t_start} .. a_{t-1}: int64 indices, or float32 vectors of continuous actions as the policy
            sampled them (the environment clipped them to its bounds, not these).
        rewards: r_{t_start} .. r_{t-1} as the learner sees them (clipped when the game says so).
        next_observation: s_t, the state to bootstrap from.
        terminal: whether s_t is terminal, so that R = 0. An episode cut off by a time limit is not
            terminal: the learner bootstraps from V(s_t) (or Q) as for any other non-terminal state.
    """

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: list[float]
    next_observation: torch.Tensor
    terminal: bool

    def __len__(self) -> int:
        return len(self.rewards)


def forward_view_returns(rewards: list[float], bootstrap: float, gamma: float) -> torch.Tensor:
    """R_i = r_i + gamma * R_{i+1}, with R_t = bootstrap (Algorithms S2 and S3, the reverse loop).

    Each state gets the longest n-step return available inside the rollout: the last state a
    1-step return, the first one a len(rewards)-step return.
    """
    returns = [0.0] * len(rewards)
    R = bootstrap
    for i in reversed(range(len(rewards))):
        R = rewards[i] + gamma * R
        returns[i] = R
    return torch.tensor(returns, dtype=torch.float32)
