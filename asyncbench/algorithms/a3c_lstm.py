"""A3C LSTM: A3C with 256 LSTM cells after the last hidden layer (Mnih et al. 2016, Section 5.1 and S8).

The loss is A3C's (Algorithm S3); what changes is how the network sees a rollout. The LSTM state is
carried from step to step while acting and from one rollout to the next, and is reset to zero when
an episode starts. The loss unrolls the LSTM over the rollout from the state it was in at t_start,
taken as a constant: back-propagation through time is truncated at the rollout's start, so a
gradient never reaches steps an earlier update already learned from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from asyncbench.algorithms.a3c import A3C, A3CConfig, initialise_policy_head
from asyncbench.config import at_least, checked
from asyncbench.rollout import Rollout

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each of shape (layers 1, batch 1, cells)


@dataclass
class A3CLSTMConfig(A3CConfig):
    lstm_cells: int = checked(at_least(1, "an integer"))


class RecurrentActorCritic(nn.Module):
    """The body, an LSTM layer, then the softmax policy and linear value heads (S8)."""

    def __init__(self, body: nn.Module, n_actions: int, cells: int, policy_init_scale: float | None = None):
        super().__init__()
        self.body = body
        self.lstm = nn.LSTM(body.out_features, cells)
        self.policy = nn.Linear(cells, n_actions)
        self.value = nn.Linear(cells, 1)
        initialise_policy_head(self.policy, policy_init_scale)

    def forward(self, observations: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """Feed `observations` in order, as consecutive steps of one episode, starting from `state`.

        Returns the logits and values at every step and the state after the last one.
        """
        # The body sees the steps as one batch, the LSTM as one sequence. Through oneDNN (mkldnn)
        # nn.LSTM runs a rollout's forward and backward 3x faster than LSTMCell step by step, but a
        # single step (acting) 4x slower than the native kernel (1 thread, 256 cells: 2.6 vs 8.3 ms
        # for 21 steps; 0.37 vs 0.085 ms for one). (mkldnn.flags() would warn on a CPU-only build.)
        features = self.body(observations)
        use_onednn = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = use_onednn and len(observations) > 1
        try:
            hidden, state = self.lstm(features[:, None], state)
        finally:
            torch.backends.mkldnn.enabled = use_onednn
        hidden = hidden[:, 0]
        return self.policy(hidden), self.value(hidden).squeeze(-1), state


class A3CLSTM(A3C):
    """One worker's A3C LSTM: its LSTM state while acting, and where the current rollout started."""

    config_schema = A3CLSTMConfig

    def __init__(self, config: A3CLSTMConfig, gamma: float, seed: int):
        super().__init__(config, gamma, seed)
        self.cells = config.lstm_cells
        self.start_episode()

    @staticmethod
    def network(config: A3CLSTMConfig, body: nn.Module, n_actions: int) -> nn.Module:
        return RecurrentActorCritic(body, n_actions, config.lstm_cells, config.policy_init_scale)

    def start_episode(self) -> None:
        zeros = torch.zeros(1, 1, self.cells)
        self.state: LSTMState = (zeros, zeros.clone())  # after the steps acted on so far
        self.rollout_start_state: LSTMState = self.state  # before s_{t_start}

    def policy_logits(self, network: nn.Module, observation: torch.Tensor) -> torch.Tensor:
        logits, _, self.state = network(observation.unsqueeze(0), self.state)
        return logits

    def rollout_outputs(self, network: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll from the state before s_{t_start} (a constant) through s_{t-1}, then s_t for the bootstrap.

        The next rollout starts where acting left off: the state after s_{t-1}.
        """
        logits, values, _ = network(torch.cat([rollout.observations, rollout.next_observation[None]]),
                                    self.rollout_start_state)
        self.rollout_start_state = self.state
        return logits, values
