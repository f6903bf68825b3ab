"""Asynchronous n-step Q-learning (Mnih et al. 2016, Section 4 and Algorithm S2)."""

from __future__ import annotations

import torch
from torch import nn

from asyncbench.algorithms.value_based import ValueBased, ValueBasedConfig
from asyncbench.rollout import Rollout, forward_view_returns


class NStepQ(ValueBased):
    config_schema = ValueBasedConfig

    def targets(self, network: nn.Module, rollout: Rollout) -> torch.Tensor:
        # R = 0 for terminal s_t, max_a Q(s_t, a; theta-) otherwise; then R <- r_i + gamma R backwards.
        R = 0.0 if rollout.terminal else float(self.target_network(rollout.next_observation[None]).max())
        return forward_view_returns(rollout.rewards, R, self.gamma)
