"""One actor-learner process: Algorithm S3's loop, shared by every method of the paper.

Each worker repeats: sync theta' from theta, act for up to t_max steps (or to the episode's end),
turn the rollout into a loss with its method, back-propagate, and apply the gradient to the shared
parameters with one optimizer step at the annealed learning rate. The main process does all writing;
a worker only sends records over its pipe.
"""

from __future__ import annotations

import math
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any, Callable, Mapping

import numpy as np
import torch

from asyncbench.algorithms.base import TrainingDiverged
from asyncbench.config import Config
from asyncbench.envs import frames_per_step, make_env
from asyncbench.helper_processes import follow_main_process, take_environment
from asyncbench.learner import annealed_lr, make_learner
from asyncbench.messages import Episode, TargetUpdated, UpdateStats, WorkerReady, failure_reported
from asyncbench.optimizers import clip_gradient_norm
from asyncbench.policy_lag import LagCounts
from asyncbench.rollout import Rollout
from asyncbench.shared import LocalNetwork, SharedState


def worker_seed(seed: int, rank: int) -> int:
    return seed * 1000 + rank


def random_states(method: Any, env: Any) -> dict[str, Any]:
    """Where a worker's random streams are: torch's (A3C's sampling), the environment's (no-op starts,
    CartPole's initial states) and its method's own (exploration), if it has one.

    Torch's state travels as bytes: a tensor sent over a pipe lives in a shared-memory file that is
    gone once its worker has exited, before the main process may have read it."""
    return {"torch": torch.get_rng_state().numpy().tobytes(), "env": env.np_random.bit_generator.state,
            "method": None if method.rng is None else method.rng.getstate()}


def set_random_states(states: dict[str, Any], method: Any, env: Any) -> None:
    torch.set_rng_state(torch.frombuffer(bytearray(states["torch"]), dtype=torch.uint8))
    env.np_random.bit_generator.state = states["env"]
    if method.rng is not None:
        method.rng.setstate(states["method"])


def prepare_torch() -> None:
    """One torch thread (the paper's actor-learners are single threads), and denormal floats flushed to zero.

    Adam's and RMSProp's statistics of parameters with tiny gradients (squares below 1e-38) decay into
    denormals, on which x86 arithmetic is many times slower: on Pong with shared Adam (lr 3e-4) 29% of
    the statistics were denormal after 7 minutes, and training had slowed from 4,700 to 2,600 frames/s.
    """
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)


def pin_to_core(index: int) -> None:
    """Pin this process to usable core `index` mod cores: a worker that migrates loses its caches."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[index % len(cores)]})


def cores_not_all_this_jobs(usable: int, environ: Mapping[str, str]) -> str | None:
    """Why this process's `usable` cores cannot all be its own (so pinning workers to them could
    stack them on another job's), or None. A Slurm job that may use more cores than Slurm gave it
    (SLURM_CPUS_ON_NODE) shares the node's cores with other jobs, as under TaskPlugin=task/none,
    and which of them are its own is not known. A job bound to its cores sees only those."""
    given = environ.get("SLURM_CPUS_ON_NODE")
    if given is None or int(given) >= usable:
        return None
    return f"this Slurm job was given {given} of the {usable} cores it may use, and which ones is not known"


def compute_gradient(method: Any, local: LocalNetwork, rollout: Rollout, max_grad_norm: float | None) -> dict[str, float]:
    """d(theta') of the method's loss on `rollout`, clipped to `max_grad_norm`, left in `local.gradient`
    for the optimizer step; returns the method's statistics of the update. The throughput limit times
    this same function (asyncbench.throughput)."""
    loss, stats = method.loss(local.module, rollout)
    local.zero_grad()
    loss.backward()
    norm = clip_gradient_norm(local.gradient, max_grad_norm)
    if not math.isfinite(norm):  # applied, it would write NaN into theta (clipping scales an inf norm by 0)
        raise TrainingDiverged(f"the gradient's norm is {norm}")
    return stats


class Actor:
    """A worker's environment and the episode in progress, across rollouts."""

    def __init__(self, env: Any, seed: int | None, clip_rewards: bool, reward_scale: float):
        self.env = env
        self.clip_rewards = clip_rewards
        self.reward_scale = reward_scale
        self.observation, _ = env.reset(seed=seed)
        self.episode_return = 0.0
        self.episode_length = 0

    def rollout(self, act: Callable[[torch.Tensor], Any], t_max: int | None) -> tuple[Rollout, tuple[float, int] | None]:
        """Act until t - t_start == t_max or the episode ends; return it and (return, length) if it ended.

        `act` gives an int (discrete actions) or an array (continuous: the policy's sample, unclipped; the
        environment clips it). With t_max None the rollout is the whole episode, and its end is terminal
        even at a time limit: S9's updates of whole episodes without bootstrapping.
        """
        observations, actions, rewards = [], [], []
        terminated = truncated = False
        while (t_max is None or len(rewards) < t_max) and not (terminated or truncated):
            state = torch.as_tensor(np.array(self.observation))
            action = act(state)
            self.observation, reward, terminated, truncated, _ = self.env.step(action)
            observations.append(state)
            actions.append(action)
            learned = max(-1.0, min(1.0, float(reward))) if self.clip_rewards else float(reward)
            rewards.append(learned * self.reward_scale)
            self.episode_return += float(reward)
            self.episode_length += 1
        rollout = Rollout(
            observations=torch.stack(observations),
            actions=torch.as_tensor(np.array(actions)),
            rewards=rewards,
            next_observation=torch.as_tensor(np.array(self.observation)),
            terminal=terminated or (t_max is None and truncated),
        )
        finished = None
        if terminated or truncated:
            finished = (self.episode_return, self.episode_length)
            self.observation, _ = self.env.reset()
            self.episode_return, self.episode_length = 0.0, 0
        return rollout, finished


def run_actor_learner(rank: int, config: Config, shared: SharedState, records: Connection, environment: dict[str, str],
                      continued_random_states: dict[str, Any] | None = None) -> None:
    """Actor-learner `rank`, the entry point of its process (a module-level function, so every start
    method finds it), started with the main process's `environment`: Algorithm S3's loop until the run stops.

    With `continued_random_states` (from a checkpoint, or from the worker this one replaces) its random
    streams go on from there instead of starting again from its seed.
    """
    parent = follow_main_process()  # first: the main process may die while this one sets up
    take_environment(environment)
    prepare_torch()  # before torch does any work in this process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    with failure_reported(rank, records):
        if config.pin_workers:
            pin_to_core(rank)
        seed = worker_seed(config.seed, rank)
        torch.manual_seed(seed)
        env = make_env(config.game, config.atari, seed)
        method, local, optimizer = make_learner(config, shared, env, seed, rank)
        if continued_random_states is not None:
            set_random_states(continued_random_states, method, env)
        actor = Actor(env, seed if continued_random_states is None else None,  # None: reset without reseeding
                      clip_rewards=config.game.kind == "atari" and config.atari.clip_rewards,
                      reward_scale=config.game.reward_scale)
        frames_per_agent_step = frames_per_step(config.game, config.atari)
        act = lambda state: method.act(local.module, state)  # noqa: E731
        if method.uses_target_network:
            unit = 1 if config.algorithm.target_interval_unit == "frames" else frames_per_agent_step
            target_interval = config.algorithm.target_interval * unit

        records.send(WorkerReady(rank, os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"),
                                 sorted(os.sched_getaffinity(0)), continued_random_states is not None))
        while not shared.start.wait(timeout=1.0):
            if shared.stop.is_set() or os.getppid() != parent:
                return
        start_time = shared.start_time.value

        sums, lags = dict.fromkeys(method.stat_names, 0.0), LagCounts()
        updates, last_sent = 0, time.monotonic()
        while not shared.stop.is_set() and os.getppid() == parent:
            landed = local.sync_from_shared(shared)
            try:
                rollout, finished = actor.rollout(act, config.t_max)
                stats = compute_gradient(method, local, rollout, config.max_grad_norm)
            except TrainingDiverged as error:
                raise TrainingDiverged(f"training diverged by T={shared.frames.value:,} ({error}); a learning rate "
                                       f"below lr={config.lr:g} may keep it finite") from error
            frames = len(rollout) * frames_per_agent_step
            T = shared.add_frames(frames)
            optimizer.step(local.gradient, annealed_lr(config, T))
            lags.add(shared.count_update(rank, landed))
            method.observe_frames(T)
            if finished is not None:
                method.end_episode()
                method.start_episode()
            if method.uses_target_network and (T - frames) // target_interval < T // target_interval:
                shared.target_parameters.copy_(shared.parameters)  # Algorithm 1: theta- <- theta every I_target
                records.send(TargetUpdated(rank, T))

            for name, value in stats.items():
                sums[name] += value
            updates += 1
            now = time.monotonic()
            if finished is not None:
                records.send(Episode(rank, T, now - start_time, finished[0], finished[1]))
            if T >= config.frames:
                shared.stop.set()
            if now - last_sent >= config.worker_stats_interval_seconds:
                records.send(UpdateStats(rank, updates, sums, lags.counts, method.details(), random_states(method, env)))
                sums, lags = dict.fromkeys(method.stat_names, 0.0), LagCounts()
                updates, last_sent = 0, now
        if updates and os.getppid() == parent:
            records.send(UpdateStats(rank, updates, sums, lags.counts, method.details(), random_states(method, env)))
