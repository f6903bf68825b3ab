"""What the actor-learners share (Section 4): parameters, optimizer statistics, the counter T.

Only two operations cross the boundary between a worker and the shared state:
`LocalNetwork.sync_from_shared` (theta' = theta at the start of each rollout) and the step of the
optimizer from `SharedState.make_optimizer`, which applies the worker's gradient to the shared
parameters exactly once per update.
Gradients are never aliased into shared tensors: since torch 2.0 `zero_grad()` sets them to None,
which silently breaks the classic `shared.grad = local.grad` trick (the shared tensor then keeps stale
or accumulated gradients instead of the worker's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from asyncbench.schema import OptimizerConfig
from asyncbench.optimizers import OPTIMIZERS


class Flag:
    """A switch in shared memory that is only ever turned on, like `multiprocessing.Event` but without its
    lock: a process killed inside `Event.is_set()` leaves that lock held and every later check hangs."""

    def __init__(self, context: Any):
        self._on = context.RawValue("b", 0)

    def set(self) -> None:
        self._on.value = 1

    def is_set(self) -> bool:
        return bool(self._on.value)

    def wait(self, timeout: float) -> bool:
        """Poll until set or `timeout` seconds pass; return whether it is set."""
        deadline = time.monotonic() + timeout
        while not self.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.is_set()


@dataclass
class SharedState:
    """Shared-memory state handed to every worker at start.

    Attributes:
        parameters: theta (and theta_v), one flat float32 vector in shared memory.
        target_parameters: theta-, the value-based methods' target network, or None.
        statistics: the optimizer's statistics in shared memory, or None when each worker keeps its own.
        worker_statistics: each worker's own statistics, one row a worker, or None. They are in shared
            memory only so that the main process can checkpoint them: no worker reads another's row.
        frames: the global counter T (emulator frames, all workers); `add_frames` increments it under
            `frames_lock`, anyone reads `frames.value` without it.
        updates: how many optimizer steps each worker has applied to theta, one slot a worker, written by
            that worker alone (no lock): their sum is the number of updates theta holds, from which
            `count_update` measures a worker's policy lag (asyncbench.policy_lag).
        start: set by the main process once every worker is ready; the clock starts then.
        start_time: time.monotonic() at `start`, for timestamps comparable across processes.
        stop: set when a budget is spent, a worker fails or the run is interrupted.
        workers_done: set once every worker has exited: theta is final (for the final evaluation).

    Only `add_frames` takes a lock. A worker killed (SIGKILL) while holding a lock holds it for ever, so
    whatever the main process reads (T, the flags) must never need one, or a restart would hang.
    """

    parameters: torch.Tensor
    target_parameters: torch.Tensor | None
    statistics: torch.Tensor | None
    worker_statistics: torch.Tensor | None
    frames: Any
    frames_lock: Any
    updates: Any
    start: Flag
    start_time: Any
    stop: Flag
    workers_done: Flag

    @classmethod
    def create(cls, context: Any, network: nn.Module, optimizer: OptimizerConfig,
               target_network: bool = False, workers: int = 0) -> "SharedState":
        """`workers` is the number of actor-learners: each gets a slot of `updates` and, where the
        optimizer keeps per-worker statistics, a shared row of them (see `make_optimizer`)."""
        parameters = parameters_to_vector(network.parameters()).detach().clone().share_memory_()
        shared_statistics = optimizer.shared_statistics
        size = OPTIMIZERS[optimizer.name].statistics_size(parameters.numel())
        return cls(
            parameters=parameters,
            target_parameters=parameters.clone().share_memory_() if target_network else None,
            statistics=torch.zeros(size).share_memory_() if shared_statistics else None,
            worker_statistics=None if shared_statistics or not workers else torch.zeros(workers, size).share_memory_(),
            frames=context.RawValue("q", 0),  # an aligned 8-byte load: whole, without a lock
            frames_lock=context.Lock(),
            updates=context.RawArray("q", max(workers, 1)),
            start=Flag(context),
            start_time=context.RawValue("d", 0.0),
            stop=Flag(context),
            workers_done=Flag(context),
        )

    @property
    def optimizer_statistics(self) -> torch.Tensor | None:
        """What a checkpoint holds of the optimizer: the shared statistics, or every worker's row."""
        return self.statistics if self.statistics is not None else self.worker_statistics

    def add_frames(self, frames: int) -> int:
        """T <- T + frames; returns the new T."""
        with self.frames_lock:
            self.frames.value += frames
            return self.frames.value

    def updates_landed(self) -> int:
        """How many optimizer steps, by all workers, theta holds so far."""
        return sum(self.updates)

    def count_update(self, rank: int, landed_at_copy: int) -> int:
        """Count worker `rank`'s optimizer step, just applied; return its policy lag: the steps by other
        workers that landed since its copy of theta held `landed_at_copy` (its own slot has not moved since)."""
        lag = self.updates_landed() - landed_at_copy
        self.updates[rank] += 1
        return lag

    def make_optimizer(self, config: OptimizerConfig, rank: int | None = None) -> Any:
        """Worker `rank`'s optimizer over the shared parameters, with the shared statistics, or else
        its own: its row of `worker_statistics` where there is one, or new zeros."""
        if self.statistics is not None:
            statistics = self.statistics
        elif self.worker_statistics is not None and rank is not None:
            statistics = self.worker_statistics[rank]
        else:
            statistics = torch.zeros(OPTIMIZERS[config.name].statistics_size(self.parameters.numel()))
        return OPTIMIZERS[config.name](self.parameters, statistics, config)


class LocalNetwork:
    """A worker's copy theta' of the network, its parameters and gradients held in flat vectors.

    Every parameter is a view into `parameters` and every gradient a view into `gradient`, so that
    syncing is one copy and the optimizer reads the whole gradient without gathering it. Backward
    accumulates into the existing gradient views; `zero_grad` zeroes them in place and never sets
    them to None.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        tensors = list(module.parameters())
        self.parameters = parameters_to_vector(tensors).detach().clone()
        self.gradient = torch.zeros_like(self.parameters)
        for tensor, parameter, gradient in zip(tensors, _views(tensors, self.parameters), _views(tensors, self.gradient)):
            tensor.data = parameter
            tensor.grad = gradient

    def sync_from_shared(self, shared: SharedState) -> int:
        """theta' <- theta; return how many updates theta held, counted just before the copy (an update
        landing during the copy then counts as lag: the copy may hold part of it)."""
        landed = shared.updates_landed()
        self.parameters.copy_(shared.parameters)
        return landed

    def zero_grad(self) -> None:
        self.gradient.zero_()


def target_network(module: nn.Module, shared: SharedState) -> nn.Module:
    """`module` with theta- as its parameters: views into the shared target vector, never copied,
    so a worker always reads the target network last copied from theta."""
    tensors = list(module.parameters())
    for tensor, view in zip(tensors, _views(tensors, shared.target_parameters)):
        tensor.requires_grad_(False)
        tensor.data = view
    return module


def _views(tensors: list[torch.Tensor], flat: torch.Tensor) -> list[torch.Tensor]:
    """Consecutive slices of `flat`, shaped like `tensors`."""
    views, offset = [], 0
    for tensor in tensors:
        views.append(flat[offset : offset + tensor.numel()].view_as(tensor))
        offset += tensor.numel()
    return views
