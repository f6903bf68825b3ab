"""The value-based methods' targets and losses by hand (Algorithms 1 and S2), their exploration,
and the target network: updated exactly when T passes a multiple of I_target."""

import collections
import random

import pytest
import torch
from torch import nn

from asyncbench.algorithms.nstep_q import NStepQ
from asyncbench.algorithms.onestep_q import OneStepQ
from asyncbench.algorithms.onestep_sarsa import OneStepSarsa
from asyncbench.algorithms.value_based import Exploration, ValueBasedConfig
from asyncbench.rollout import Rollout
from conftest import read_run, run_app

GAMMA = 0.5
ONLINE_Q = [[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 9.0]]  # Q(s, .; theta') for s0 .. s3
TARGET_Q = [[0.0, 0.0], [3.0, 5.0], [4.0, 2.0], [6.0, 1.0]]  # Q(s, .; theta-)


class RiggedQ(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))
        self.q = nn.Linear(1, len(table[0]))  # gives `q.out_features`, the number of actions

    def forward(self, observations):
        return self.table[observations]


def config(**changes):
    settings = dict(name="test", target_interval=100, target_interval_unit="frames", epsilon_start=0.0,
                    epsilon_finals=[0.0], epsilon_probabilities=[1.0], epsilon_anneal_frames=10,
                    epsilon_resample_episodes=None)
    return ValueBasedConfig(**{**settings, **changes})


def method(cls):
    m = cls(config(), GAMMA, seed=0)  # epsilon 0: greedy
    m.target_network = RiggedQ(TARGET_Q)
    return m


def rollout(terminal):
    # s0, s1, s2 -> s3 with actions 0, 1, 0 and rewards 1, 0, 2.
    return Rollout(observations=torch.tensor([0, 1, 2]), actions=torch.tensor([0, 1, 0]),
                   rewards=[1.0, 0.0, 2.0], next_observation=torch.tensor(3), terminal=terminal)


@pytest.mark.parametrize("cls, terminal, expected", [
    # y_i = r_i + 0.5 max_a Q-(s_{i+1}, a): 1 + 0.5*5, 0 + 0.5*4, 2 + 0.5*6; at a terminal s3, y_2 = r_2.
    (OneStepQ, False, [3.5, 2.0, 5.0]),
    (OneStepQ, True, [3.5, 2.0, 2.0]),
    # y_i = r_i + 0.5 Q-(s_{i+1}, a_{i+1}) with a_1 = 1, a_2 = 0 and a_3 = argmax Q(s3; theta') = 1.
    (OneStepSarsa, False, [3.5, 2.0, 2.5]),
    (OneStepSarsa, True, [3.5, 2.0, 2.0]),
    # R = max_a Q-(s3, a) = 6, then R_i = r_i + 0.5 R_{i+1}: 5, 2.5, 2.25; at a terminal R = 0: 2, 1, 1.5.
    (NStepQ, False, [2.25, 2.5, 5.0]),
    (NStepQ, True, [1.5, 1.0, 2.0]),
])
def test_targets_and_loss_by_hand(cls, terminal, expected):
    m, online = method(cls), RiggedQ(ONLINE_Q)
    loss, stats = m.loss(online, rollout(terminal))
    q_taken = [1.0, 2.0, 3.0]  # Q(s0, 0), Q(s1, 1), Q(s2, 0) under theta'
    assert loss.detach().item() == pytest.approx(sum((y - q) ** 2 for y, q in zip(expected, q_taken)))
    loss.backward()
    gradient = online.table.grad
    assert [gradient[0, 0], gradient[1, 1], gradient[2, 0]] == pytest.approx(
        [-2 * (y - q) for y, q in zip(expected, q_taken)])
    assert gradient[3].abs().sum() == 0 and m.target_network.table.grad is None  # no gradient into theta-


def test_sarsa_takes_the_action_its_target_bootstrapped_from():
    m, online = method(OneStepSarsa), RiggedQ(ONLINE_Q)
    m.loss(online, rollout(terminal=False))
    assert m.act(online, torch.tensor(0)) == 1  # a' chosen in s3, although s0's greedy action is 0
    assert m.act(online, torch.tensor(0)) == 0  # then acting resumes as usual
    m.loss(online, rollout(terminal=False))
    m.end_episode()  # the episode was cut off in s3: a' is dropped with it
    assert m.act(online, torch.tensor(0)) == 0


def test_epsilon_is_annealed_linearly_on_the_global_counter():
    exploration = Exploration(config(epsilon_start=1.0, epsilon_finals=[0.1], epsilon_anneal_frames=4_000_000),
                              random.Random(0))
    assert [exploration.epsilon(T) for T in (0, 1_000_000, 4_000_000, 9_000_000)] == pytest.approx(
        [1.0, 0.775, 0.1, 0.1])


def test_final_epsilons_are_drawn_with_the_papers_probabilities():
    paper = config(epsilon_finals=[0.1, 0.01, 0.5], epsilon_probabilities=[0.4, 0.3, 0.3])
    draws = collections.Counter(Exploration(paper, random.Random(seed)).finals_drawn[0] for seed in range(10_000))
    # standard error of each share at 10,000 draws: about 0.005
    assert {final: count / 10_000 for final, count in draws.items()} == {
        0.1: pytest.approx(0.4, abs=0.015), 0.01: pytest.approx(0.3, abs=0.015), 0.5: pytest.approx(0.3, abs=0.015)}


def test_final_epsilon_is_drawn_again_every_n_episodes_when_asked():
    exploration = Exploration(config(epsilon_finals=[0.1, 0.5], epsilon_probabilities=[0.5, 0.5],
                                     epsilon_resample_episodes=2), random.Random(0))
    for _ in range(5):
        exploration.end_episode()
    assert len(exploration.finals_drawn) == 3  # at start, after episodes 2 and 4


@pytest.mark.slow
@pytest.mark.parametrize("game, unit, interval, frames_per_step", [
    ("cartpole", "frames", 5000, 1),
    ("pong", "steps", 250, 4),  # 250 agent steps = 1000 emulator frames
])
def test_the_target_network_is_updated_exactly_when_T_passes_a_multiple_of_the_interval(
        tmp_path, game, unit, interval, frames_per_step):
    done = run_app(f"game={game}", "algorithm=nstep_q", "frames=40000" if game == "cartpole" else "frames=8000",
                   f"algorithm.target_interval={interval}", f"algorithm.target_interval_unit={unit}",
                   "evaluation.enabled=false", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    info, _, _ = read_run(tmp_path)
    every = interval * frames_per_step
    updates = info["target_updates"]
    assert len(updates) == info["summary"]["frames"] // every
    # One update per multiple k * every, by the worker whose rollout carried T past it.
    rollout_frames = info["config"]["t_max"] * frames_per_step
    assert [T // every for T in updates] == list(range(1, len(updates) + 1))
    assert all(T % every < rollout_frames for T in updates)
    assert all(len(worker["epsilon_finals"]) == 1 for worker in info["workers"])
