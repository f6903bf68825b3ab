"""A3C's returns, loss and gradients against numbers worked out by hand (Algorithm S3)."""

import math

import gymnasium as gym
import pytest
import torch
from torch import nn

from asyncbench.algorithms.a3c import A3C, A3CConfig
from asyncbench.rollout import Rollout, forward_view_returns
from asyncbench.worker import Actor

BETA, VALUE_COEF, GAMMA = 0.01, 0.5, 0.5
LN2 = math.log(2.0)


class RiggedActorCritic(nn.Module):
    """Observation k (an integer) gets logits[k] and values[k]: every output is set by hand."""

    def __init__(self, values):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(len(values), 2))  # uniform policy: pi = (1/2, 1/2)
        self.values = nn.Parameter(torch.tensor(values))

    def forward(self, observations):
        return self.logits[observations], self.values[observations]


def rollout(terminal):
    # s0, s1, s2 -> s3 with rewards 1, 0, 2 and actions 0, 1, 0.
    return Rollout(observations=torch.tensor([0, 1, 2]), actions=torch.tensor([0, 1, 0]),
                   rewards=[1.0, 0.0, 2.0], next_observation=torch.tensor(3), terminal=terminal)


def a3c():
    return A3C(A3CConfig(name="a3c", beta=BETA, value_loss_coef=VALUE_COEF), gamma=GAMMA, seed=0)


def test_forward_view_returns_by_hand():
    # R2 = 2 + 0.5*10 = 7; R1 = 0 + 0.5*7 = 3.5; R0 = 1 + 0.5*3.5 = 2.75
    assert forward_view_returns([1.0, 0.0, 2.0], bootstrap=10.0, gamma=0.5).tolist() == [2.75, 3.5, 7.0]


def test_loss_bootstraps_from_the_value_of_the_last_state():
    network = RiggedActorCritic([1.0, 2.0, 3.0, 4.0])
    loss, stats = a3c().loss(network, rollout(terminal=False))
    # R = V(s3) = 4; R2 = 2 + 0.5*4 = 4, R1 = 0 + 0.5*4 = 2, R0 = 1 + 0.5*2 = 2; R - V = (1, 0, 1).
    # policy: -sum log(1/2) * (R - V) - beta * 3 * ln 2 = 2 ln 2 - 0.03 ln 2; value: 0.5 * (1 + 0 + 1) = 1.
    assert stats["policy_loss"] == pytest.approx(2 * LN2 - 3 * BETA * LN2)
    assert stats["value_loss"] == pytest.approx(1.0)
    assert stats["entropy"] == pytest.approx(LN2)
    assert loss.detach().item() == pytest.approx(2 * LN2 - 3 * BETA * LN2 + 1.0)

    loss.backward()
    # dL/dV(s_i) = -2 * 0.5 * (R_i - V_i); the bootstrap V(s3) is a constant: no gradient.
    assert network.values.grad.tolist() == pytest.approx([-1.0, 0.0, -1.0, 0.0])
    # dL/dlogits = (pi - onehot(a)) * (R - V); the entropy term has zero gradient at the uniform policy.
    assert network.logits.grad.flatten().tolist() == pytest.approx([-0.5, 0.5, 0.0, 0.0, -0.5, 0.5, 0.0, 0.0])


def test_loss_uses_zero_return_at_a_terminal_state():
    network = RiggedActorCritic([1.0, 2.0, 3.0, 4.0])
    _, stats = a3c().loss(network, rollout(terminal=True))
    # R = 0; R2 = 2, R1 = 1, R0 = 1.5; R - V = (0.5, -1, -1).
    assert stats["policy_loss"] == pytest.approx(LN2 * (0.5 - 1 - 1) - 3 * BETA * LN2)
    assert stats["value_loss"] == pytest.approx(0.5 * (0.25 + 1 + 1))


@pytest.mark.parametrize("limit, expect_terminal", [(3, False), (500, True)])
def test_actor_bootstraps_after_a_time_limit_but_not_after_a_terminal(limit, expect_terminal):
    """A real CartPole: cut off by a 3-step limit (truncated) or run to its fall (terminated)."""
    env = gym.make("CartPole-v1", max_episode_steps=limit)
    actor = Actor(env, seed=0, clip_rewards=False, reward_scale=1.0)
    always_left = lambda state: 0  # noqa: E731 - CartPole falls within about ten steps
    finished = None
    while finished is None:
        batch, finished = actor.rollout(always_left, t_max=5)
    assert batch.terminal is expect_terminal
    episode_return, length = finished
    assert episode_return == length == (3 if limit == 3 else length)
    assert actor.episode_length == 0  # the next rollout starts a new episode


def test_actor_clips_and_scales_rewards_for_learning_but_reports_the_raw_return():
    class BigRewards(gym.Wrapper):
        def step(self, action):
            observation, _, terminated, truncated, info = self.env.step(action)
            return observation, 5.0, terminated, truncated, info

    actor = Actor(BigRewards(gym.make("CartPole-v1", max_episode_steps=2)), seed=0, clip_rewards=True,
                  reward_scale=0.5)
    batch, finished = actor.rollout(lambda state: 0, t_max=5)
    assert batch.rewards == [0.5, 0.5]  # clipped to 1, then scaled
    assert finished == (10.0, 2)


def test_act_samples_actions_with_the_policy_probabilities():
    torch.manual_seed(0)
    network = RiggedActorCritic([0.0])
    with torch.no_grad():
        network.logits.copy_(torch.tensor([[0.0, 1.0]]))
    draws = 20_000
    share_of_1 = sum(a3c().act(network, torch.tensor(0)) for _ in range(draws)) / draws
    # pi(1) = e / (1 + e) = 0.731; the standard error of the share is 0.003 at 20,000 draws.
    assert share_of_1 == pytest.approx(math.e / (1 + math.e), abs=0.01)
