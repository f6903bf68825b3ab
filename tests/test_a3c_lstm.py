"""A3C LSTM: the LSTM state is carried across rollouts, reset when an episode starts, and the loss
back-propagates through the current rollout only (truncated BPTT), with A3C's loss on top."""

import pytest
import torch
from torch.testing import assert_close

from asyncbench.algorithms.a3c import A3C, A3CConfig
from asyncbench.algorithms.a3c_lstm import A3CLSTM, A3CLSTMConfig
from asyncbench.models import MLP
from asyncbench.rollout import Rollout
from asyncbench.shared import LocalNetwork

GAMMA = 0.9


def lstm_a3c():
    config = A3CLSTMConfig(name="a3c_lstm", beta=0.01, value_loss_coef=0.5, lstm_cells=4)
    torch.manual_seed(0)
    return A3CLSTM(config, GAMMA, seed=0), A3CLSTM.network(config, MLP((2,), [3]), n_actions=2)


def episode(steps):
    """Observations of one made-up episode: every step differs, so the state carries information."""
    return torch.linspace(-1.0, 1.0, 2 * steps).reshape(steps, 2)


@torch.no_grad()
def act_through(method, network, observations):
    """Act on each observation in turn, as the actor does; return the logits the policy used."""
    return torch.cat([method.policy_logits(network, observation[None]) for observation in observations])


def rollout(observations, start, end, terminal=False):
    return Rollout(observations=observations[start:end], actions=torch.zeros(end - start, dtype=torch.long),
                   rewards=[1.0] * (end - start), next_observation=observations[end], terminal=terminal)


def test_the_state_carries_from_step_to_step_and_across_rollouts():
    method, network = lstm_a3c()
    observations = episode(7)
    with torch.no_grad():
        from_episode_start, _, _ = network(observations, method.rollout_start_state)

    first = act_through(method, network, observations[:3])
    method.loss(network, rollout(observations, 0, 3))
    second = act_through(method, network, observations[3:6])
    logits, values = method.rollout_outputs(network, rollout(observations, 3, 6))

    # Acting step by step gives what one unroll over the whole episode gives ...
    assert_close(torch.cat([first, second]), from_episode_start[:6])
    # ... and so does the second rollout's loss, s_t included (the bootstrap), from where the first ended.
    assert_close(logits.detach(), from_episode_start[3:7])
    # The same observations seen from a fresh state give other outputs: the state does matter here.
    fresh, _, _ = network(observations[3:7], (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))
    assert not torch.allclose(fresh, logits)


def test_the_state_is_reset_when_an_episode_starts():
    method, network = lstm_a3c()
    observations = episode(4)
    first_episode = act_through(method, network, observations[:3])
    method.loss(network, rollout(observations, 0, 3, terminal=True))
    method.end_episode()
    method.start_episode()
    assert_close(act_through(method, network, observations[:3]), first_episode)
    logits, _ = method.rollout_outputs(network, rollout(observations, 0, 3))
    assert_close(logits[:3].detach(), first_episode)


def test_backpropagation_is_truncated_at_the_rollout_start():
    """The second rollout's gradient equals that of A3C's loss on a network whose LSTM starts, as a
    constant, from the state the first rollout left: nothing flows back into the first rollout."""
    method, network = lstm_a3c()
    observations = episode(7)
    act_through(method, network, observations[:3])
    method.loss(network, rollout(observations, 0, 3))
    act_through(method, network, observations[3:6])
    start = tuple(tensor.clone() for tensor in method.rollout_start_state)
    loss, _ = method.loss(network, rollout(observations, 3, 6))
    gradient = torch.autograd.grad(loss, list(network.parameters()))

    class FromStart(torch.nn.Module):
        """The same network seen by feed-forward A3C: LSTM state fixed to `start`."""

        def forward(self, batch):
            logits, values, _ = network(batch, start)
            return logits, values

    plain = A3C(A3CConfig(name="a3c", beta=0.01, value_loss_coef=0.5), GAMMA, seed=0)
    expected_loss, _ = plain.loss(FromStart(), rollout(observations, 3, 6))
    expected = torch.autograd.grad(expected_loss, list(network.parameters()))
    assert loss.item() == pytest.approx(expected_loss.item())
    for got, want in zip(gradient, expected):
        assert_close(got, want)
    assert all(not tensor.requires_grad for tensor in method.rollout_start_state)


def test_acting_does_not_build_a_graph():
    method, network = lstm_a3c()
    method.act(network, episode(1)[0])
    assert all(not tensor.requires_grad for tensor in method.state)


def test_episodes_played_side_by_side_each_keep_their_own_state():
    """The evaluator's way: three episodes step together; the middle one ends after 2 steps and its row
    is dropped; the others go on, each as if it had been played alone from its start."""
    method, network = lstm_a3c()
    episodes = [episode(5), episode(5).flip(0), episode(5) * 0.5]
    with torch.no_grad():
        alone = [network(observations, (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))[0] for observations in episodes]
        method.start_episode(3)
        together = [act_through_rows(method, network, [episodes[0][t], episodes[1][t], episodes[2][t]]) for t in range(2)]
        method.keep_episodes([0, 2])
        together += [act_through_rows(method, network, [episodes[0][t], episodes[2][t]]) for t in range(2, 5)]
    assert_close(torch.stack([step[0] for step in together]), alone[0])
    assert_close(torch.stack([step[1] for step in together[:2]]), alone[1][:2])
    assert_close(torch.stack([step[-1] for step in together]), alone[2])
    assert not torch.allclose(alone[0], alone[2])  # the episodes differ, so a mixed-up row would show


def act_through_rows(method, network, observations):
    return method.policy_logits(network, torch.stack(observations))


def test_the_lstm_reads_and_writes_the_workers_flat_vectors_as_sequence_and_as_single_step():
    """nn.LSTM keeps its own list of weights: a worker's sync must still reach them, through the
    sequence kernel (oneDNN, the loss) and the single-step cell (acting) alike, and its gradient
    must land in the flat gradient the optimizer reads."""
    _, network = lstm_a3c()
    local = LocalNetwork(network)
    observations = episode(3)
    start = (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))
    before, _, _ = network(observations, start)
    lstm = slice(sum(p.numel() for p in network.body.parameters()),
                 sum(p.numel() for p in [*network.body.parameters(), *network.lstm.parameters()]))
    local.parameters[lstm] += 0.5  # as a sync from the shared theta would write them

    sequence, _, _ = network(observations, start)
    state, steps = start, []
    with torch.no_grad():
        for observation in observations:
            logits, state = network.step(observation[None], state)
            steps.append(logits)
    assert not torch.allclose(sequence, before)
    assert_close(torch.cat(steps), sequence.detach())
    local.zero_grad()
    sequence.sum().backward()
    assert local.gradient[lstm].abs().sum() > 0
