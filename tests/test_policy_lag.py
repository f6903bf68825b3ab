"""Policy lag: the updates by other workers that land between a worker's copy of theta and its own
step, counted exactly on a schedule written out by hand, and recorded by real runs."""

import multiprocessing

import pytest
import torch
from torch import nn

from asyncbench.algorithms.a3c import A3C
from asyncbench.config import load_config
from asyncbench.optimizers import RMSPropConfig
from asyncbench.policy_lag import LagCounts
from asyncbench.shared import LocalNetwork, SharedState
from asyncbench.trainer import train

from tests.conftest import read_csv

RMSPROP = RMSPropConfig(name="rmsprop", shared_statistics=True, alpha=0.99, eps=0.1)


class Vector(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(3))


def test_lag_counts_by_hand():
    lags = LagCounts()
    for lag in [0, 0, 0, 1, 1, 3]:
        lags.add(lag)
    lags.merge([2, 0, 1, 0, 0, 1])  # two more 0s, a 2 and a 5
    assert lags.counts == [5, 2, 1, 1, 0, 1]
    assert lags.updates == 10
    assert lags.mean() == pytest.approx((2 + 2 + 3 + 5) / 10)
    assert lags.quantile(0.5) == 0  # 5 of 10 at or below 0
    assert lags.quantile(0.6) == 1
    assert lags.quantile(0.95) == 5  # 9 of 10 at or below 3: the 95th percentile is the 10th
    assert lags.summary() == {"updates": 10, "mean": 1.2, "p50": 0, "p95": 5, "max": 5, "counts": [5, 2, 1, 1, 0, 1]}
    assert LagCounts().summary() == {"updates": 0, "mean": None, "p50": None, "p95": None, "max": None, "counts": []}


def test_a_rigged_schedule_of_copies_and_steps_has_the_lags_counted_by_hand():
    """Three workers over one shared theta; each step is a real optimizer step of a real gradient."""
    shared = SharedState.create(multiprocessing.get_context("fork"), Vector(), RMSPROP, workers=3)
    workers = [LocalNetwork(Vector()) for _ in range(3)]
    optimizers = [shared.make_optimizer(RMSPROP, rank) for rank in range(3)]
    copied = {}

    def copy(rank):
        copied[rank] = workers[rank].sync_from_shared(shared)

    def step(rank):
        workers[rank].zero_grad()
        workers[rank].module.theta.sum().backward()
        optimizers[rank].step(workers[rank].gradient, 0.01)
        return shared.count_update(rank, copied[rank])

    copy(0), copy(1), copy(2)
    assert step(1) == 0  # nothing landed since its copy
    copy(1)
    assert step(1) == 0
    assert step(2) == 2  # worker 1's two steps landed since worker 2 copied
    assert step(0) == 3  # and worker 2's
    copy(0), copy(1)
    assert step(0) == 0
    assert step(1) == 1
    assert shared.updates_landed() == 6 and list(shared.updates) == [2, 3, 1]


def lag_run(tmp_path, threads, name):
    config = load_config(["game=cartpole", "algorithm=a3c", f"threads={threads}", "frames=20000",
                          "evaluation.enabled=false", "start_method=fork", "progress_interval_seconds=1"])
    summary = train(config, tmp_path / name, {})
    return summary, read_csv(tmp_path / name / "progress.csv")


@pytest.mark.slow
def test_one_worker_has_no_lag_and_two_workers_count_every_update(tmp_path):
    summary, rows = lag_run(tmp_path, 1, "one")
    assert summary["policy_lag"]["counts"] == [summary["updates"]]
    # a row with no update since the row before (a busy host's last row) has no lag to show: empty
    assert {(row["policy_lag_mean"], row["policy_lag_p95"]) for row in rows if row["policy_lag_mean"]} == {("0", "0")}

    summary, rows = lag_run(tmp_path, 2, "two")
    lag = summary["policy_lag"]
    assert lag["updates"] == sum(lag["counts"]) == summary["updates"]
    assert lag["mean"] > 0  # two workers running at once: the other's steps land during a rollout
    assert float(rows[-1]["policy_lag_p95"]) >= float(rows[-1]["policy_lag_mean"])


@pytest.mark.slow
def test_two_workers_taking_turns_under_a_lock_have_no_lag(tmp_path, monkeypatch):
    """A lock held from each copy of theta to the end of its step: no other step can land in between,
    in the real worker loop (forked workers inherit the patched methods)."""
    lock = multiprocessing.get_context("fork").Lock()
    sync_from_shared, observe_frames = LocalNetwork.sync_from_shared, A3C.observe_frames

    def locking(local, shared):
        lock.acquire()
        return sync_from_shared(local, shared)

    def unlocking(method, frames):
        lock.release()
        observe_frames(method, frames)

    monkeypatch.setattr(LocalNetwork, "sync_from_shared", locking)
    monkeypatch.setattr(A3C, "observe_frames", unlocking)
    summary, _ = lag_run(tmp_path, 2, "turns")
    assert summary["policy_lag"]["counts"] == [summary["updates"]]
