"""A3C with a Gaussian policy (S9): its log-likelihood, entropy and gradients against numbers worked out by
hand, the unclipped-sample rule, its LSTM state, and the settings that do not fit it."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from asyncbench.algorithms.a3c import A3CConfig
from asyncbench.algorithms.a3c_continuous import A3CContinuous, A3CContinuousLSTM, GaussianActorCritic
from asyncbench.algorithms.a3c_lstm import A3CLSTMConfig
from asyncbench.config import ConfigError, GameConfig, load_config
from asyncbench.envs import make_env
from asyncbench.models import MLP
from asyncbench.rollout import Rollout
from asyncbench.worker import Actor

BETA, VALUE_COEF, GAMMA = 0.5, 0.5, 0.5
VARIANCE = 0.25
LOG_PI_OVER_2 = math.log(math.pi / 2)  # log(2 pi sigma^2) at sigma^2 = 1/4


def rigged_network():
    """mu = (0.5, -0.5) and sigma^2 = 1/4 in every state, V = 0: an identity body (no hidden layer) under
    heads whose weights are zero and whose biases are set by hand."""
    network = GaussianActorCritic(MLP((1,), []), action_dims=2)
    with torch.no_grad():
        for layer in (network.mean, network.variance, network.value):
            layer.weight.zero_()
        network.mean.bias.copy_(torch.tensor([0.5, -0.5]))
        network.variance.bias.fill_(math.log(math.exp(VARIANCE) - 1))  # softplus^-1(1/4)
        network.value.bias.zero_()
    return network


def rollout(actions):
    # s0, s1 -> terminal s2 with rewards 1 and 4: R1 = 4, R0 = 1 + 0.5 * 4 = 3; V = 0, so R - V = (3, 4).
    return Rollout(observations=torch.tensor([[0.0], [1.0]]), actions=torch.tensor(actions),
                   rewards=[1.0, 4.0], next_observation=torch.tensor([2.0]), terminal=True)


def method():
    return A3CContinuous(A3CConfig(name="a3c_continuous", beta=BETA, value_loss_coef=VALUE_COEF), gamma=GAMMA, seed=0)


def test_log_likelihood_entropy_and_gradients_by_hand():
    # a - mu = (1, 0) then (0, 1): |a - mu|^2 = 1 each step. The first action is outside the bounds [-1, 1]
    # of every task here: the loss takes it as sampled.
    network = rigged_network()
    loss, stats = method().loss(network, rollout([[1.5, -0.5], [0.5, 0.5]]))
    # log N = -1 / (2 * 1/4) - (2/2) log(2 pi / 4) = -2 - log(pi/2); H = (2/2)(log(pi/2) + 1).
    log_likelihood, entropy = -2 - LOG_PI_OVER_2, LOG_PI_OVER_2 + 1
    assert stats["entropy"] == pytest.approx(entropy)
    assert stats["policy_loss"] == pytest.approx(-(3 + 4) * log_likelihood - BETA * 2 * entropy)
    assert stats["value_loss"] == pytest.approx(VALUE_COEF * (3**2 + 4**2))
    assert loss.item() == pytest.approx(stats["policy_loss"] + stats["value_loss"])

    loss.backward()
    # dL/dmu = -(R - V)(a - mu) / sigma^2: -3 (1, 0) * 4 + -4 (0, 1) * 4 = (-12, -16), summed over the steps.
    assert network.mean.bias.grad.tolist() == pytest.approx([-12.0, -16.0])
    # dL/dsigma^2 = -(R - V)(|a - mu|^2 / (2 sigma^4) - d / (2 sigma^2)) - beta d / (2 sigma^2)
    #             = -(R - V)(8 - 4) - 0.5 * 4: -14 and -18; through softplus, whose slope is 1 - exp(-sigma^2).
    assert network.variance.bias.grad.item() == pytest.approx((-14 - 18) * (1 - math.exp(-VARIANCE)))
    # dL/dV = -2 * 0.5 * (R - V) = -3, -4; the value network shares nothing with the policy's.
    assert network.value.bias.grad.item() == pytest.approx(-7.0)
    assert network.policy_body is not network.value_body


def test_the_loss_takes_the_log_likelihood_of_the_unclipped_sample():
    unclipped, _ = method().loss(rigged_network(), rollout([[1.5, -0.5], [0.5, 0.5]]))
    clipped, _ = method().loss(rigged_network(), rollout([[1.0, -0.5], [0.5, 0.5]]))
    # a - mu = 1 has log-likelihood -2 - log(pi/2); a - mu = 0.5 has -0.5 - log(pi/2): the step's advantage is 3.
    assert (unclipped - clipped).item() == pytest.approx(-3 * (-2.0 - -0.5))


def test_the_actor_keeps_the_sample_and_the_environment_gets_it_clipped():
    # HalfCheetah-v5's control cost is 0.1 |action|^2 of the action it is given: unclipped, 5.0 would cost
    # 25 times what 1.0 does. Two environments from one seed: one sent 5.0 through the actor, one 1.0.
    game = GameConfig(name="half_cheetah", env_id="HalfCheetah-v5", kind="continuous", reward_scale=1.0)
    actors = [Actor(make_env(game, None, seed=3), seed=3, clip_rewards=False, reward_scale=1.0) for _ in range(2)]
    far, _ = actors[0].rollout(lambda state: np.full(6, 5.0, np.float32), t_max=3)
    bound, _ = actors[1].rollout(lambda state: np.full(6, 1.0, np.float32), t_max=3)
    assert far.actions.dtype == torch.float32 and far.actions.tolist() == [[5.0] * 6] * 3
    assert far.rewards == bound.rewards
    assert torch.equal(far.next_observation, bound.next_observation)


def test_the_sample_is_drawn_around_the_mean_with_the_policy_variance():
    torch.manual_seed(0)
    network = rigged_network()
    assert method().act(network, torch.tensor([0.0])).shape == (2,)
    samples = method().sampled_actions(network, torch.zeros(4000, 1))
    assert samples.mean(0).tolist() == pytest.approx([0.5, -0.5], abs=0.03)
    assert samples.var(0).tolist() == pytest.approx([VARIANCE, VARIANCE], abs=0.02)
    assert method().greedy_actions(rigged_network(), torch.tensor([[0.0]])).tolist() == [[0.5, -0.5]]


def test_lstm_acting_and_the_rollout_unroll_agree_for_both_networks():
    """Stepping the LSTMs of the policy and value networks while acting leaves each in the state the loss's
    unroll reaches: the next rollout's loss starts both from there."""
    torch.manual_seed(0)
    config = A3CLSTMConfig(name="a3c_continuous_lstm", beta=BETA, value_loss_coef=VALUE_COEF, lstm_cells=4)
    lstm = A3CContinuousLSTM(config, gamma=GAMMA, seed=0)
    network = lstm.network(config, MLP((3,), [5]), n_actions=2)
    observations = torch.randn(6, 3)
    stepped = torch.cat([lstm.policy_logits(network, observation[None]) for observation in observations])
    unrolled, values, state = network(observations, (torch.zeros(1, 1, 8), torch.zeros(1, 1, 8)))
    assert torch.allclose(stepped, unrolled, atol=1e-6)
    assert lstm.state[0].shape == (1, 1, 8)
    assert torch.allclose(lstm.state[0], state[0], atol=1e-6) and torch.allclose(lstm.state[1], state[1], atol=1e-6)
    assert not torch.allclose(state[0][..., :4], state[0][..., 4:])  # two LSTMs of their own


@pytest.mark.parametrize("overrides, message", [
    (["algorithm=a3c", "game=pendulum"],
     "algorithm=a3c does not fit game=pendulum (continuous actions): expected algorithm=a3c_continuous or "
     "a3c_continuous_lstm"),
    (["algorithm=a3c_continuous", "game=cartpole"],
     "algorithm=a3c_continuous does not fit game=cartpole (discrete actions): expected algorithm=onestep_q or "
     "onestep_sarsa or nstep_q or a3c or a3c_lstm"),
    (["algorithm=a3c_continuous", "game=pendulum", "evaluation.policy=epsilon"],
     "evaluation.policy=epsilon does not fit algorithm=a3c_continuous (continuous actions): expected greedy "
     "(the mean action) or sampled"),
])
def test_a_method_that_does_not_fit_the_action_space_is_one_line(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(overrides)
    assert str(error.value) == message


def test_the_paper_settings_of_s9():
    config = load_config(["algorithm=a3c_continuous_lstm", "game=dmc_cheetah_run"])
    assert (config.algorithm.lstm_cells, config.algorithm.beta, list(config.model.hidden_sizes)) == (128, 1e-4, [200])
    assert config.evaluation.policy == "greedy"
    env = make_env(config.game, config.atari, seed=0)
    assert isinstance(env.action_space, gym.spaces.Box) and env.observation_space.shape == (17,)


def test_t_max_null_rolls_out_whole_episodes_without_bootstrapping():
    # Pendulum-v1 ends only at its 200-step time limit: a truncation, whose value t_max rollouts bootstrap from.
    game = GameConfig(name="pendulum", env_id="Pendulum-v1", kind="continuous", reward_scale=1.0)
    actor = Actor(make_env(game, None, seed=0), seed=0, clip_rewards=False, reward_scale=1.0)
    whole, finished = actor.rollout(lambda state: np.zeros(1, np.float32), t_max=None)
    assert len(whole) == 200 and whole.terminal and finished == (pytest.approx(sum(whole.rewards)), 200)
    cut, _ = actor.rollout(lambda state: np.zeros(1, np.float32), t_max=200)
    assert len(cut) == 200 and not cut.terminal
