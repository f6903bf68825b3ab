"""A3C for continuous actions: a Gaussian policy (Mnih et al. 2016, Section 5.3 and Supplement S9).

The policy is a Gaussian with spherical covariance: its mean mu is a linear layer, its one variance
sigma^2 = softplus(linear layer), shared by every action dimension. The policy and the value are two
networks that share no parameters (S9). The loss is A3C's (Algorithm S3) with the Gaussian's
log-likelihood and entropy in place of the softmax's. Actions are the policy's samples, unclipped: the
environment clips them to its bounds (asyncbench.envs), and the loss takes the log-likelihood of the
sample itself, the action the policy chose.

`A3CContinuous` is feed-forward (cheap, for tests); `A3CContinuousLSTM` is S9's network, each of the two
networks the body then an LSTM layer, with A3C LSTM's handling of the LSTM state.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from asyncbench.algorithms.a3c import A3C, A3CConfig, initialise_policy_head
from asyncbench.algorithms.a3c_lstm import A3CLSTM, A3CLSTMConfig, LSTMState, step, unroll
from asyncbench.algorithms.base import TrainingDiverged


def fresh_copy(module: nn.Module) -> nn.Module:
    """`module`'s architecture with parameters of its own, initialised anew: the value network's body."""
    duplicate = copy.deepcopy(module)
    for layer in duplicate.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return duplicate


def gaussian_parameters(mean: nn.Linear, variance: nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    """[mu, sigma^2] side by side in one tensor (the policy's output, as the softmax policy's logits are):
    mu = linear(hidden), sigma^2 = softplus(linear(hidden)) (S9)."""
    return torch.cat([mean(hidden), F.softplus(variance(hidden))], dim=-1)


def split_gaussian(policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu (one column per action dimension) and sigma^2 (one column) from `gaussian_parameters`' output."""
    return policy[..., :-1], policy[..., -1:]


class GaussianActorCritic(nn.Module):
    """A policy network (body, then mu and sigma^2) and a value network (a fresh copy of the body, then V)."""

    def __init__(self, body: nn.Module, action_dims: int, policy_init_scale: float | None = None):
        super().__init__()
        self.policy_body, self.value_body = body, fresh_copy(body)
        self.mean = nn.Linear(body.out_features, action_dims)
        self.variance = nn.Linear(body.out_features, 1)
        self.value = nn.Linear(body.out_features, 1)
        initialise_policy_head(self.mean, policy_init_scale)

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        policy = gaussian_parameters(self.mean, self.variance, self.policy_body(observations))
        return policy, self.value(self.value_body(observations)).squeeze(-1)


class RecurrentGaussianActorCritic(nn.Module):
    """S9's networks: each of the policy and value networks the body, then its own LSTM layer of `cells`.

    The two LSTM states travel as one, side by side (the policy's cells first), so that A3C LSTM's state
    handling carries both.
    """

    def __init__(self, body: nn.Module, action_dims: int, cells: int, policy_init_scale: float | None = None):
        super().__init__()
        self.cells = cells
        self.policy_body, self.value_body = body, fresh_copy(body)
        self.policy_lstm = nn.LSTM(body.out_features, cells)
        self.value_lstm = nn.LSTM(body.out_features, cells)
        self.mean = nn.Linear(cells, action_dims)
        self.variance = nn.Linear(cells, 1)
        self.value = nn.Linear(cells, 1)
        initialise_policy_head(self.mean, policy_init_scale)

    def forward(self, observations: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """Feed `observations` in order, as consecutive steps of one episode, starting from `state`."""
        policy_state, value_state = self._split(state)
        policy_hidden, policy_state = unroll(self.policy_lstm, self.policy_body(observations), policy_state)
        value_hidden, value_state = unroll(self.value_lstm, self.value_body(observations), value_state)
        policy = gaussian_parameters(self.mean, self.variance, policy_hidden)
        return policy, self.value(value_hidden).squeeze(-1), self._join(policy_state, value_state)

    def step(self, observations: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One step of each episode side by side. The value network steps too: the next rollout's loss
        unrolls it from the state it reached here."""
        policy_state, value_state = self._split(state)
        policy_hidden, policy_state = step(self.policy_lstm, self.policy_body(observations), policy_state)
        _, value_state = step(self.value_lstm, self.value_body(observations), value_state)
        return gaussian_parameters(self.mean, self.variance, policy_hidden), self._join(policy_state, value_state)

    def _split(self, state: LSTMState) -> tuple[LSTMState, LSTMState]:
        h, c = state
        return (h[..., :self.cells], c[..., :self.cells]), (h[..., self.cells:], c[..., self.cells:])

    @staticmethod
    def _join(policy_state: LSTMState, value_state: LSTMState) -> LSTMState:
        return torch.cat([policy_state[0], value_state[0]], -1), torch.cat([policy_state[1], value_state[1]], -1)


class A3CContinuous(A3C):
    """A3C's loss with a Gaussian policy; `policy_logits` gives [mu, sigma^2] in place of logits."""

    continuous_actions = True

    @staticmethod
    def network(config: A3CConfig, body: nn.Module, n_actions: int) -> nn.Module:
        return GaussianActorCritic(body, n_actions, config.policy_init_scale)

    def act(self, network: nn.Module, observation: torch.Tensor) -> np.ndarray:
        """a_t ~ N(mu(s_t), sigma^2(s_t) I), unclipped."""
        return self.sampled_actions(network, observation[None])[0].numpy()

    @torch.no_grad()
    def sampled_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        mean, variance = split_gaussian(self.policy_logits(network, observations))
        actions = mean + variance.sqrt() * torch.randn_like(mean)
        if not torch.isfinite(actions).all():  # the environment would refuse it (MuJoCo: PhysicsError), or score NaN
            raise TrainingDiverged(f"the policy's action is {actions.tolist()}")
        return actions

    @torch.no_grad()
    def greedy_actions(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        """The mean action mu(s), the Gaussian's most likely one: the evaluator's evaluation.policy=greedy."""
        return split_gaussian(self.policy_logits(network, observations))[0]

    def log_likelihood_and_entropy(self, policy: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For d action dimensions, log N(a | mu, sigma^2 I) = -|a - mu|^2 / (2 sigma^2) - (d/2) log(2 pi sigma^2)
        and H = (d/2)(log(2 pi sigma^2) + 1): S9's entropy term, -(1/2)(log(2 pi sigma^2) + 1) as a cost,
        once per dimension."""
        mean, variance = split_gaussian(policy)
        dims = mean.shape[-1]
        log_2pi_variance = torch.log(2 * math.pi * variance).squeeze(-1)
        log_likelihood = -0.5 * ((actions - mean).pow(2).sum(-1) / variance.squeeze(-1) + dims * log_2pi_variance)
        return log_likelihood, 0.5 * dims * (log_2pi_variance + 1)


class A3CContinuousLSTM(A3CLSTM, A3CContinuous):
    """A3C LSTM's state handling (the states of both networks' LSTMs) with the Gaussian policy."""

    lstms = 2  # the policy network's and the value network's

    @staticmethod
    def network(config: A3CLSTMConfig, body: nn.Module, n_actions: int) -> nn.Module:
        return RecurrentGaussianActorCritic(body, n_actions, config.lstm_cells, config.policy_init_scale)
