"""Asynchronous advantage actor-critic, A3C (Mnih et al. 2016, Section 4 and Algorithm S3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from asyncbench.algorithms.base import Method
from asyncbench.rollout import Rollout, forward_view_returns
from asyncbench.schema import AlgorithmConfig, above, at_least, checked


@dataclass
class A3CConfig(AlgorithmConfig):
    beta: float = checked(at_least(0.0))
    value_loss_coef: float = checked(above(0.0))
    policy_init_scale: Optional[float] = field(default=None, metadata={"check": above(0.0)})


def initialise_policy_head(policy: nn.Linear, scale: float | None) -> None:
    """With a `scale`, give each action's weight row a random direction and norm `scale`, and zero bias.

    universe-starter-agent's normalized-columns initialisation: with scale 0.01 the first policy is
    almost uniform whatever the features, instead of favouring actions at random (Andrychowicz et al.
    2021 found a 100x smaller last policy layer among the choices that matter most). None keeps
    torch's default initialisation, as the paper states none.
    """
    if scale is None:
        return
    with torch.no_grad():
        directions = torch.randn_like(policy.weight)
        policy.weight.copy_(scale * directions / directions.norm(dim=1, keepdim=True))
        policy.bias.zero_()


class ActorCritic(nn.Module):
    """Softmax policy pi(a|s; theta) and linear value V(s; theta_v) sharing every other layer (S8)."""

    def __init__(self, body: nn.Module, n_actions: int, policy_init_scale: float | None = None):
        super().__init__()
        self.body = body
        self.policy = nn.Linear(body.out_features, n_actions)
        self.value = nn.Linear(body.out_features, 1)
        initialise_policy_head(self.policy, policy_init_scale)

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(observations)
        return self.policy(hidden), self.value(hidden).squeeze(-1)


class A3C(Method):
    """Turns a rollout into the loss whose gradient is Algorithm S3's d(theta) + d(theta_v)."""

    config_schema = A3CConfig
    stat_names = ("policy_loss", "value_loss", "entropy")

    def __init__(self, config: A3CConfig, gamma: float, seed: int):
        super().__init__(config, gamma, seed)
        self.beta = config.beta
        self.value_loss_coef = config.value_loss_coef

    @staticmethod
    def network(config: A3CConfig, body: nn.Module, n_actions: int) -> nn.Module:
        return ActorCritic(body, n_actions, config.policy_init_scale)

    def act(self, network: nn.Module, observation: torch.Tensor) -> int:
        """Perform a_t according to policy pi(a_t|s_t; theta')."""
        return int(self.sampled_actions(network, observation[None])[0])

    @torch.no_grad()
    def sampled_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        """a ~ pi(.|s; theta') in each state, by the Gumbel-max trick: argmax(logits + Gumbel(0, 1) noise)
        is distributed as softmax(logits), at under half the cost of torch.multinomial for one draw."""
        logits = self.policy_logits(network, observations)
        gumbel = -torch.empty_like(logits).exponential_().log()
        return (logits + gumbel).argmax(dim=-1)

    @torch.no_grad()
    def greedy_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        """argmax_a pi(a|s; theta') in each state: the evaluator's greedy policy."""
        return self.policy_logits(network, observations).argmax(dim=-1)

    def policy_logits(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        """The logits of pi(.|s; theta') in the states acted in now, one per episode in play."""
        logits, _ = network(observations)
        return logits

    def rollout_outputs(self, network: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and values for s_{t_start} .. s_{t-1} and s_t (for the bootstrap), in one batch."""
        return network(torch.cat([rollout.observations, rollout.next_observation[None]]))

    def log_likelihood_and_entropy(self, logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a_i|s_i; theta') of each action taken, and the entropy H(pi(s_i; theta')) of each state's policy."""
        log_pi = F.log_softmax(logits, dim=-1)
        return log_pi.gather(1, actions[:, None]).squeeze(1), -(log_pi.exp() * log_pi).sum(dim=-1)

    def loss(self, network: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, dict[str, float]]:
        """Sum over i = t-1 .. t_start of the policy, entropy and value terms of Algorithm S3.

        Returns the loss to minimise and its parts (per rollout) for the progress log.
        """
        logits, values = self.rollout_outputs(network, rollout)
        # R = 0 for terminal s_t, V(s_t; theta_v') otherwise.
        R = 0.0 if rollout.terminal else float(values[-1].detach())
        returns = forward_view_returns(rollout.rewards, R, self.gamma)
        logits, values = logits[:-1], values[:-1]

        log_pi_taken, entropy = self.log_likelihood_and_entropy(logits, rollout.actions)
        # d(theta) += grad log pi(a_i|s_i) (R - V(s_i)) + beta grad H(pi(s_i)); the advantage is a
        # constant for the policy gradient, and ascent on the objective is descent on its negative.
        advantage = returns - values.detach()
        policy_loss = -(log_pi_taken * advantage).sum() - self.beta * entropy.sum()
        # d(theta_v) += d(R - V(s_i))^2 / d(theta_v'), weighted by value_loss_coef.
        value_loss = self.value_loss_coef * (returns - values).pow(2).sum()

        stats = {
            "policy_loss": policy_loss.detach().item(),
            "value_loss": value_loss.detach().item(),
            "entropy": entropy.detach().mean().item(),
        }
        return policy_loss + value_loss, stats
