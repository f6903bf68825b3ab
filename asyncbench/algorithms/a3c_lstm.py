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
from asyncbench.rollout import Rollout
from asyncbench.schema import at_least, checked

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each of shape (layers 1, episodes, cells)


@dataclass
class A3CLSTMConfig(A3CConfig):
    lstm_cells: int = checked(at_least(1, "an integer"))


def unroll(lstm: nn.LSTM, features: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
    """`lstm` over `features` as consecutive steps of one episode from `state`: its output at each step, and
    the state after the last."""
    # The body sees the steps as one batch, the LSTM as one sequence: nn.LSTM runs a rollout's forward
    # and backward through oneDNN 3x faster than a cell step by step.
    hidden, state = lstm(features[:, None], state)
    return hidden[:, 0], state


def step(lstm: nn.LSTM, features: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
    """One step of `lstm` in each of several episodes side by side (one row of `features` and `state` each)."""
    # Straight to the cell kernel, which skips nn.LSTM's checks and dispatch: 1 thread, 256 cells,
    # one episode: 74 us against 112 us for nn.LSTM's native kernel and 370 us for oneDNN's.
    h, c = torch.lstm_cell(features, (state[0][0], state[1][0]),
                           lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    return h, (h[None], c[None])


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
        hidden, state = unroll(self.lstm, self.body(observations), state)
        return self.policy(hidden), self.value(hidden).squeeze(-1), state

    def step(self, observations: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One step of each of several episodes side by side (a worker acts in one, the evaluator plays
        several): `observations` and `state` hold one row per episode. Returns the logits and the states."""
        hidden, state = step(self.lstm, self.body(observations), state)
        return self.policy(hidden), state


class A3CLSTM(A3C):
    """One worker's A3C LSTM: its LSTM state while acting, and where the current rollout started."""

    config_schema = A3CLSTMConfig
    lstms = 1  # LSTM layers whose states the network keeps side by side

    def __init__(self, config: A3CLSTMConfig, gamma: float, seed: int):
        super().__init__(config, gamma, seed)
        self.cells = config.lstm_cells * self.lstms
        self.start_episode()

    @staticmethod
    def network(config: A3CLSTMConfig, body: nn.Module, n_actions: int) -> nn.Module:
        return RecurrentActorCritic(body, n_actions, config.lstm_cells, config.policy_init_scale)

    def start_episode(self, episodes: int = 1) -> None:
        zeros = torch.zeros(1, episodes, self.cells)
        self.state: LSTMState = (zeros, zeros.clone())  # after the steps acted on so far
        self.rollout_start_state: LSTMState = self.state  # before s_{t_start}

    def keep_episodes(self, rows: list[int]) -> None:
        self.state = (self.state[0][:, rows], self.state[1][:, rows])

    def policy_logits(self, network: nn.Module, observations: torch.Tensor) -> torch.Tensor:
        logits, self.state = network.step(observations, self.state)
        return logits

    def rollout_outputs(self, network: nn.Module, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll from the state before s_{t_start} (a constant) through s_{t-1}, then s_t for the bootstrap.

        The next rollout starts where acting left off: the state after s_{t-1}.
        """
        logits, values, _ = network(torch.cat([rollout.observations, rollout.next_observation[None]]),
                                    self.rollout_start_state)
        self.rollout_start_state = self.state
        return logits, values
