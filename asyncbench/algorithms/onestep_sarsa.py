"""Asynchronous one-step Sarsa (Mnih et al. 2016, Section 4): one-step Q-learning whose target
bootstraps from the action actually taken in the next state instead of the greedy one."""

from __future__ import annotations

import torch
from torch import nn

from asyncbench.algorithms.value_based import ValueBased, ValueBasedConfig
from asyncbench.rollout import Rollout


class OneStepSarsa(ValueBased):
    config_schema = ValueBasedConfig

    def __init__(self, config: ValueBasedConfig, gamma: float, seed: int):
        super().__init__(config, gamma, seed)
        self.next_action: int | None = None  # a' in s_t, chosen for the target and then taken

    def act(self, network: nn.Module, observation: torch.Tensor) -> int:
        if self.next_action is not None:
            action, self.next_action = self.next_action, None
            return action
        return super().act(network, observation)

    def targets(self, network: nn.Module, rollout: Rollout) -> torch.Tensor:
        # y = r for terminal s', r + gamma Q(s', a'; theta-) otherwise, with a' the action taken in s'.
        # The a' of the rollout's last step is chosen now, epsilon-greedily, and taken next.
        if rollout.terminal:
            last_action = 0
        else:
            last_action = self.next_action = super().act(network, rollout.next_observation)
        next_actions = torch.cat([rollout.actions[1:], torch.tensor([last_action])])
        bootstrap = self.target_network(self.next_states(rollout)).gather(1, next_actions[:, None]).squeeze(1)
        if rollout.terminal:
            bootstrap[-1] = 0.0
        return torch.tensor(rollout.rewards) + self.gamma * bootstrap

    def end_episode(self) -> None:
        self.next_action = None  # a' belonged to the state the episode was cut off in
        super().end_episode()
