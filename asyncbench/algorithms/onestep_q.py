"""Asynchronous one-step Q-learning (Mnih et al. 2016, Section 4 and Algorithm 1)."""

from __future__ import annotations

import torch
from torch import nn

from asyncbench.algorithms.value_based import ValueBased, ValueBasedConfig
from asyncbench.rollout import Rollout


class OneStepQ(ValueBased):
    """Gradients accumulated over the rollout (t_max = I_AsyncUpdate steps, or to a terminal)."""

    config_schema = ValueBasedConfig

    def targets(self, network: nn.Module, rollout: Rollout) -> torch.Tensor:
        # y = r for terminal s', r + gamma max_a' Q(s', a'; theta-) otherwise (Algorithm 1).
        bootstrap = self.target_network(self.next_states(rollout)).max(dim=1).values
        if rollout.terminal:
            bootstrap[-1] = 0.0
        return torch.tensor(rollout.rewards) + self.gamma * bootstrap
