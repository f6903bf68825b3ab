"""The shared-memory plumbing, with real processes: every gradient reaches theta exactly once,
RMSProp's statistics g (and Adam's m, v, t) are shared, and the local copy's gradients live where the
optimizer reads them; and a worker killed while sending a record costs that record only."""

import os
import signal
import struct
import time

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.testing import assert_close

from asyncbench.optimizers import CHUNK, OPTIMIZERS, AdamConfig, MomentumSGDConfig, RMSPropConfig
from asyncbench.processes import Inbox
from asyncbench.shared import Flag, LocalNetwork, SharedState

LR, ALPHA, EPS = 0.1, 0.9, 0.01
UPDATES = 4
# Worker `rank` pulls theta towards TARGETS[rank][k] in its k-th update: loss = |theta - target|^2 / 2,
# so its gradient theta' - target depends on the theta' it synced, and differs at every update.
TARGETS = [[[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [4.0, -2.0, 0.0], [0.0, 1.0, -3.0]],
           [[2.0, -1.0, 0.5], [3.0, 3.0, 3.0], [-2.0, 1.0, 1.0], [0.5, 0.5, -0.5]]]


class Vector(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(3))


def rmsprop(shared_statistics):
    return RMSPropConfig(name="rmsprop", shared_statistics=shared_statistics, alpha=ALPHA, eps=EPS)


MOMENTUM_SGD = MomentumSGDConfig(name="momentum_sgd", shared_statistics=False, alpha=ALPHA)


def adam(shared_statistics):
    return AdamConfig(name="adam", shared_statistics=shared_statistics, beta1=0.8, beta2=0.9, eps=EPS)


def take_turns(rank, shared, config, turn):
    """Worker: on each of its turns, sync, back-propagate, and apply one update to the shared theta."""
    torch.set_num_threads(1)
    local = LocalNetwork(Vector())
    optimizer = shared.make_optimizer(config)
    for k in range(UPDATES):
        while turn.value != 2 * k + rank:  # strict alternation: 0, 1, 0, 1, ...
            time.sleep(0.001)
        local.sync_from_shared(shared)
        local.zero_grad()
        loss = 0.5 * (local.module.theta - torch.tensor(TARGETS[rank][k])).pow(2).sum()
        loss.backward()
        optimizer.step(local.gradient, LR)
        turn.value += 1


def expected_trajectory(config):
    """The paper's Section 7 updates applied by hand in the order the workers took turns:
    RMSProp (eqs. S2-S3) or momentum SGD, with one set of statistics or one per worker."""
    theta = torch.zeros(3)
    statistics = [torch.zeros(3), torch.zeros(3)]
    for k in range(UPDATES):
        for rank in (0, 1):
            gradient = theta - torch.tensor(TARGETS[rank][k])
            s = statistics[0] if config.shared_statistics else statistics[rank]
            if config.name == "rmsprop":
                s.mul_(ALPHA).add_((1 - ALPHA) * gradient * gradient)
                theta = theta - LR * gradient / torch.sqrt(s + EPS)
            else:
                s.mul_(ALPHA).add_((1 - ALPHA) * gradient)
                theta = theta - LR * s
    return theta, statistics[0]


def expected_adam_trajectory(config):
    """torch.optim.Adam applied in the order the workers took turns: one instance (one m, v and t)
    for shared statistics, one per worker otherwise."""
    theta = nn.Parameter(torch.zeros(3))
    optimizers = [torch.optim.Adam([theta], lr=LR, betas=(config.beta1, config.beta2), eps=config.eps)
                  for _ in range(1 if config.shared_statistics else 2)]
    for k in range(UPDATES):
        for rank in (0, 1):
            theta.grad = theta.detach() - torch.tensor(TARGETS[rank][k])
            optimizers[0 if config.shared_statistics else rank].step()
    return theta.detach()


def run_two_workers(config):
    context = mp.get_context("spawn")
    shared = SharedState.create(context, Vector(), config)
    turn = context.Value("i", 0)
    workers = [context.Process(target=take_turns, args=(rank, shared, config, turn)) for rank in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    return shared


def test_every_gradient_reaches_the_shared_parameters_exactly_once_with_shared_statistics():
    shared = run_two_workers(rmsprop(shared_statistics=True))
    theta, g = expected_trajectory(rmsprop(shared_statistics=True))
    assert shared.parameters.tolist() == pytest.approx(theta.tolist(), abs=1e-6)
    # g lives in shared memory: the parent sees what both workers accumulated into it.
    assert shared.statistics.tolist() == pytest.approx(g.tolist(), abs=1e-6)
    # The check can tell: per-worker statistics would have led somewhere else.
    assert not torch.allclose(theta, expected_trajectory(rmsprop(shared_statistics=False))[0], atol=1e-3)


@pytest.mark.parametrize("config", [rmsprop(shared_statistics=False), MOMENTUM_SGD], ids=["rmsprop", "momentum_sgd"])
def test_per_worker_statistics_stay_in_each_worker(config):
    shared = run_two_workers(config)
    assert shared.statistics is None
    theta, _ = expected_trajectory(config)
    assert shared.parameters.tolist() == pytest.approx(theta.tolist(), abs=1e-6)
    shared_variant = type(config)(**{**vars(config), "shared_statistics": True})
    assert not torch.allclose(theta, expected_trajectory(shared_variant)[0], atol=1e-3)


def test_backward_writes_into_the_flat_gradient_and_zero_grad_keeps_it_there():
    local = LocalNetwork(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)))
    for _ in range(2):  # a second round proves zero_grad reset the same buffer (no accumulation)
        local.zero_grad()
        local.module(torch.ones(1, 3)).sum().backward()
        gathered = torch.cat([p.grad.reshape(-1) for p in local.module.parameters()])
        assert torch.equal(local.gradient, gathered)
        assert local.gradient.abs().sum() > 0
    assert all(p.grad is not None for p in local.module.parameters())


def test_the_target_network_reads_theta_minus_and_only_theta_minus():
    from asyncbench.shared import target_network

    shared = SharedState.create(mp.get_context("spawn"), Vector(), rmsprop(True), target_network=True)
    target = target_network(Vector(), shared)
    shared.parameters.fill_(5.0)  # theta moves: theta- does not
    assert target.theta.tolist() == [0.0, 0.0, 0.0]
    shared.target_parameters.copy_(shared.parameters)  # theta- <- theta
    assert target.theta.tolist() == [5.0, 5.0, 5.0]
    assert not target.theta.requires_grad


@pytest.mark.parametrize("shared_statistics", [True, False], ids=["shared", "per_worker"])
def test_adam_matches_torch_adam_with_shared_or_per_worker_moments(shared_statistics):
    shared = run_two_workers(adam(shared_statistics))
    theta = expected_adam_trajectory(adam(shared_statistics))
    assert shared.parameters.tolist() == pytest.approx(theta.tolist(), abs=1e-5)
    assert not torch.allclose(theta, expected_adam_trajectory(adam(not shared_statistics)), atol=1e-3)
    if shared_statistics:
        assert shared.statistics[-1] == 2 * UPDATES  # t counts both workers' steps


@pytest.mark.parametrize("config", [rmsprop(True), MOMENTUM_SGD, adam(True)], ids=["rmsprop", "momentum_sgd", "adam"])
def test_a_step_over_several_chunks_is_the_update_on_the_whole_vector(config):
    """The optimizers go through theta slice by slice (optimizers.CHUNK): every slice, the last and
    shorter one included, gets exactly the update written for the whole vector."""
    n = 2 * CHUNK + CHUNK // 2
    generator = torch.Generator().manual_seed(0)
    gradients = [torch.randn(n, generator=generator) for _ in range(3)]
    theta = torch.randn(n, generator=generator)
    optimizer = OPTIMIZERS[config.name](theta.clone(), torch.zeros(OPTIMIZERS[config.name].statistics_size(n)), config)

    expected = theta.clone().requires_grad_()
    torch_adam = torch.optim.Adam([expected], lr=LR, betas=(config.beta1, config.beta2), eps=config.eps) \
        if config.name == "adam" else None
    statistics = torch.zeros(n)
    for gradient in gradients:
        optimizer.step(gradient, LR)
        with torch.no_grad():
            if config.name == "rmsprop":
                statistics = ALPHA * statistics + (1 - ALPHA) * gradient * gradient
                expected -= LR * gradient / torch.sqrt(statistics + EPS)
            elif config.name == "momentum_sgd":
                statistics = ALPHA * statistics + (1 - ALPHA) * gradient
                expected -= LR * statistics
            else:
                expected.grad = gradient.clone()
                torch_adam.step()
    assert_close(optimizer.parameters, expected.detach())


def send_then_die_inside_a_record(records):
    records.send("whole")
    # What a worker SIGKILLed while writing leaves behind: the header of a 1 MB record and 3 of its bytes.
    os.write(records.fileno(), struct.pack("!i", 1_000_000) + b"abc")
    os.kill(os.getpid(), signal.SIGKILL)


def count_until_stopped(records, stop):
    count = 0
    while not stop.is_set():
        records.send(count)
        count += 1
        time.sleep(0.005)


def test_a_worker_killed_inside_a_record_loses_that_record_only_and_the_others_go_on():
    context = mp.get_context("spawn")
    inbox, stop = Inbox(context), Flag(context)
    processes = []
    for target, args in ((send_then_die_inside_a_record, ()), (count_until_stopped, (stop,))):
        records = inbox.open()
        processes.append(context.Process(target=target, args=(records, *args), daemon=True))
        processes[-1].start()
        records.close()
    dying, counting = processes
    received = []
    deadline = time.monotonic() + 60
    while len(inbox.readers) == 2 and time.monotonic() < deadline:  # until the dead one's pipe has ended
        received += inbox.receive(timeout=0.1)
    counted_when_dropped = len(received) - 1
    while len(received) - 1 < counted_when_dropped + 20 and time.monotonic() < deadline:
        received += inbox.receive(timeout=0.1)
    stop.set()
    counting.join(timeout=30)
    while inbox.readers and time.monotonic() < deadline:
        received += inbox.receive(timeout=0.1)

    assert dying.exitcode == -signal.SIGKILL and counting.exitcode == 0
    assert received.count("whole") == 1
    counts = [record for record in received if record != "whole"]
    assert counts == list(range(len(counts))) and len(counts) >= counted_when_dropped + 20  # none lost, more after
    assert inbox.readers == []  # both pipes ended: nothing waits on them
