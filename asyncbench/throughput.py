"""The throughput actor-learners could reach on this machine: the limits a run is compared with.

Three limits, each of the same work a worker does (its environment, its method, its update) without
sharing, records or a main process, on one torch thread:

- the **part-by-part limit** adds up the parts, each timed alone:

      seconds per agent step = env step (with the game's preprocessing)
                             + a batch-1 forward to act
                             + (forward+backward over a t_max rollout + gradient clip + optimizer step) / t_max

- the **sequence limit** times the parts as a worker alternates them (t_max env steps and acts, then
  the update). Between the two lies what the parts cost each other on one core (the caches they evict);
  between the sequence limit and a run lies the worker's own overhead.
- the **host's capacity for k workers**: k processes running the sequence loop at the same time, copy i
  pinned to core i as worker i is. Two copies of independent work do not run at twice one copy's speed
  on every host (shared caches, memory bandwidth, the hypervisor): k workers' speedup is judged against
  this, measured on the same host in the same minute.

All are in emulator frames per second.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

import numpy as np
import torch
import torch.multiprocessing as mp

from asyncbench.algorithms import ALGORITHMS
from asyncbench.config import Config
from asyncbench.envs import action_size, frames_per_step, make_env
from asyncbench.learner import build_network, make_learner
from asyncbench.rollout import Rollout
from asyncbench.shared import Flag, SharedState
from asyncbench.worker import compute_gradient, pin_to_core, prepare_torch


WARM_UP_SECONDS = 0.5


def seconds_per_call(work: Callable[[], object], seconds: float) -> float:
    """Mean wall-clock seconds per call of `work`, calling it for about `seconds` after a warm-up."""
    for _ in range(3):
        work()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        calls += 1
    return elapsed / calls


@dataclass
class WorkerParts:
    """One worker's work for `config`, cut into the parts the limits time: a random env step (and the
    observation as the actor converts it), an act, and an update over a fixed t_max rollout."""

    env_step: Callable[[], torch.Tensor]
    act: Callable[[], object]
    update: Callable[[], None]
    in_sequence: Callable[[], None]  # t_max env steps and acts, then an update: a worker's order
    frames_per_rollout: int
    close: Callable[[], None]

    @classmethod
    def build(cls, config: Config) -> "WorkerParts":
        env = make_env(config.game, config.atari, seed=config.seed)

        def env_step() -> torch.Tensor:
            observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                observation, _ = env.reset()
            return torch.as_tensor(np.array(observation))

        network = build_network(config, env.observation_space.shape, action_size(env.action_space))
        uses_target = ALGORITHMS[config.algorithm.name].uses_target_network
        shared = SharedState.create(torch.multiprocessing, network, config.optimizer, uses_target)
        method, local, optimizer = make_learner(config, shared, env, config.seed)
        states = [env_step() for _ in range(config.t_max + 1)]
        actions = torch.as_tensor(np.array([env.action_space.sample() for _ in range(config.t_max)]))
        rollout = Rollout(observations=torch.stack(states[:-1]), actions=actions,
                          rewards=[0.0] * config.t_max, next_observation=states[-1], terminal=False)

        def update() -> None:
            compute_gradient(method, local, rollout, config.max_grad_norm)
            optimizer.step(local.gradient, 1e-12)  # a tiny step: the parameters stay where they are

        def in_sequence() -> None:
            for _ in range(config.t_max):
                method.act(local.module, env_step())
            update()

        return cls(env_step=env_step, act=lambda: method.act(local.module, states[0]), update=update,
                   in_sequence=in_sequence, frames_per_rollout=config.t_max * frames_per_step(config.game, config.atari),
                   close=env.close)


def measure_limit(config: Config, seconds_per_part: float = 3.0) -> dict[str, float]:
    """Time each part of one worker's work for `config`, alone and in sequence, in this process; return
    the parts, the part-by-part limit and the sequence limit.

    Measured as a worker runs: on one torch thread and, when `config.pin_workers`, on core 0.
    """
    threads, cores = torch.get_num_threads(), os.sched_getaffinity(0)
    torch.set_num_threads(1)
    if config.pin_workers:
        pin_to_core(0)
    try:
        parts = WorkerParts.build(config)
        env_seconds = seconds_per_call(parts.env_step, seconds_per_part)
        act_seconds = seconds_per_call(parts.act, seconds_per_part)
        update_seconds = seconds_per_call(parts.update, seconds_per_part)
        sequence_seconds = seconds_per_call(parts.in_sequence, seconds_per_part)
        parts.close()
    finally:
        torch.set_num_threads(threads)
        os.sched_setaffinity(0, cores)

    frames_per_agent_step = parts.frames_per_rollout / config.t_max
    step_seconds = env_seconds + act_seconds + update_seconds / config.t_max
    return {
        "env_steps_per_second": 1.0 / env_seconds,
        "act_ms": 1e3 * act_seconds,
        "update_ms": 1e3 * update_seconds,
        "limit_frames_per_second": frames_per_agent_step / step_seconds,
        "sequence_frames_per_second": parts.frames_per_rollout / sequence_seconds,
    }


def sequence_rates(config: Config, copies: int, seconds: float) -> list[float]:
    """Frames/s of `copies` processes running the sequence loop for `seconds` at the same time, copy i
    on core i when `config.pin_workers` (as worker i): what this host gives that many workers with no
    overhead and no sharing. Each copy builds its parts and warms up first; all start at one signal.

    The copies start with `config.start_method`, as the workers do.
    """
    context = mp.get_context(config.start_method)
    go = Flag(context)
    readers, processes = [], []
    try:
        for rank in range(copies):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_run_sequence_copy, name=f"sequence-copy-{rank}", daemon=True,
                                      args=(rank, config, seconds, go, writer))
            process.start()
            writer.close()
            readers.append(reader)
            processes.append(process)
        ready = [_receive(reader, process) for reader, process in zip(readers, processes)]
        assert all(message == "ready" for message in ready), ready
        go.set()
        return [_receive(reader, process) for reader, process in zip(readers, processes)]
    finally:
        for process in processes:
            process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join()


def _receive(reader: Connection, process: Any, timeout: float = 120.0) -> Any:
    """The next message of a sequence copy; one line naming the copy if it died or hung instead."""
    if not wait([reader], timeout):
        raise RuntimeError(f"{process.name} (pid {process.pid}) sent nothing within {timeout:.0f} s")
    try:
        message = reader.recv()
    except EOFError:
        process.join(timeout=5.0)
        raise RuntimeError(f"{process.name} (pid {process.pid}) exited with code {process.exitcode}") from None
    if isinstance(message, Exception):
        raise RuntimeError(f"{process.name} failed: {message}")
    return message


def _run_sequence_copy(rank: int, config: Config, seconds: float, go: Flag, results: Connection) -> None:
    """Entry point of one copy of `sequence_rates` (a module-level function, so every start method finds it)."""
    prepare_torch()
    try:
        if config.pin_workers:
            pin_to_core(rank)
        parts = WorkerParts.build(config)
        # Warm up for a while, not a few passes: a forked copy's first passes also copy every page it
        # writes (copy-on-write), and timed then, it reads slower than the workers it is compared with.
        seconds_per_call(parts.in_sequence, WARM_UP_SECONDS)
        results.send("ready")
        go.wait(timeout=120.0)
        rollout_seconds = seconds_per_call(parts.in_sequence, seconds)
        parts.close()
        results.send(parts.frames_per_rollout / rollout_seconds)
    except Exception:
        results.send(RuntimeError(traceback.format_exc().strip().splitlines()[-1]))
