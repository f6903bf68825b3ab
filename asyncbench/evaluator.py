"""The evaluator: a separate process that plays episodes with snapshots of the shared parameters.

Every `evaluation.interval_frames` global frames it copies theta and plays `evaluation.episodes`
episodes, with the game's own protocol (Atari: up to 30 no-op starts, the 30-minute cap) and the
policy `evaluation.policy`. While training runs, training loses at most `evaluation.cpu_share` of one
core to it: it sleeps to keep its own CPU time within most of that share of the wall-clock time of
each evaluation, the rest being what its context switches and cache misses cost the workers. Once the workers have stopped, it evaluates the final weights
at full speed. Like the workers, it only sends records; the main process writes evaluations.csv.
"""

from __future__ import annotations

import os
import random
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable

import torch
from torch.nn.utils import vector_to_parameters

from asyncbench.algorithms import ALGORITHMS
from asyncbench.config import Config
from asyncbench.envs import make_env
from asyncbench.shared import SharedState
from asyncbench.worker import WorkerFailed, build_network, prepare_torch, worker_seed

EVALUATOR_RANK = -1  # how the evaluator names itself in records shared with the workers

# The part of `evaluation.cpu_share` left for what the evaluator costs the workers beyond its own CPU
# time (the caches it evicts, the switches). Measured with 2 workers on 2 cores, Pong, share 0.25 (12.5%
# of the machine), 3 paired runs each: with its own CPU held to the whole share, training lost 12.9-14.2%
# of its frames/s; held to 85% of it, 11.1-13.2%; held to 75%, 8.3-13.6% (mean 10.2%).
SWITCHING_ALLOWANCE = 0.25


class Stopped(Exception):
    """Training stopped during a periodic evaluation: its unfinished episode is dropped."""


@dataclass(frozen=True)
class EvaluationEpisode:
    frames: int  # T of the snapshot that played it
    wall_seconds: float
    episode: int
    score: float  # the raw game score
    length: int
    final: bool


class Throttle:
    """Keeps a process's CPU time within `share` of the wall-clock time since `restart()`.

    It sleeps only once it is `quantum` seconds ahead: a sleep after every step would switch
    context hundreds of times a second, and each switch evicts the pinned workers' caches.
    """

    def __init__(self, share: float, quantum: float = 0.05):
        self.share = share
        self.quantum = quantum
        self.restart()

    def restart(self) -> None:
        self.cpu, self.wall = time.process_time(), time.monotonic()

    def wait(self) -> None:
        used = time.process_time() - self.cpu
        delay = self.wall + used / self.share - time.monotonic()
        if delay > self.quantum:
            time.sleep(delay)


def play_episode(env: Any, choose: Callable[[torch.Tensor], int], pace: Callable[[], None]) -> tuple[float, int]:
    """Play one episode to its end (terminal, or the game's cap); return the raw score and length."""
    observation, _ = env.reset()
    score, length, done = 0.0, 0, False
    while not done:
        observation, reward, terminated, truncated, _ = env.step(choose(torch.as_tensor(observation)))
        score += float(reward)
        length += 1
        done = terminated or truncated
        pace()
    return score, length


def run_evaluator(config: Config, shared: SharedState, records: Connection) -> None:
    """Entry point of the evaluator process."""
    prepare_torch()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _evaluate(config, shared, records)
    except Exception:
        records.send(WorkerFailed(EVALUATOR_RANK, traceback.format_exc()))
        raise SystemExit(1)


class Player:
    """The evaluator's side of a game: its environment, a network and the policy `evaluation.policy`,
    seeded from (seed, `evaluation.seed_offset`), so that the same weights play the same episodes."""

    def __init__(self, config: Config):
        self.evaluation = config.evaluation
        seed = worker_seed(config.seed, self.evaluation.seed_offset)
        torch.manual_seed(seed)
        self.rng = random.Random(seed)
        self.env = make_env(config.game, config.atari, seed)
        self.method = ALGORITHMS[config.algorithm.name](config.algorithm, config.gamma, seed)
        self.network = build_network(config, self.env.observation_space.shape, int(self.env.action_space.n))

    def choose(self, observation: torch.Tensor) -> int:
        if self.evaluation.policy == "epsilon" and self.rng.random() < self.evaluation.epsilon:
            return int(self.env.action_space.sample())
        if self.evaluation.policy == "sampled":
            return self.method.act(self.network, observation)
        return self.method.greedy_action(self.network, observation)

    def play(self, pace: Callable[[], None]) -> tuple[float, int]:
        self.method.start_episode()
        return play_episode(self.env, self.choose, pace)


def _evaluate(config: Config, shared: SharedState, records: Connection) -> None:
    evaluation = config.evaluation
    player = Player(config)

    def evaluate(final: bool, pace: Callable[[], None]) -> None:
        frames = shared.frames.value
        vector_to_parameters(shared.parameters.clone(), player.network.parameters())  # the snapshot
        for episode in range(evaluation.episodes):
            score, length = player.play(pace)
            records.send(EvaluationEpisode(frames, time.monotonic() - shared.start_time.value, episode, score,
                                           length, final))

    throttle = Throttle(evaluation.cpu_share * (1 - SWITCHING_ALLOWANCE))

    def pace_while_training() -> None:
        if shared.stop.is_set():
            raise Stopped()
        throttle.wait()

    parent = os.getppid()
    while not shared.start.wait(timeout=1.0):
        if shared.stop.is_set() or os.getppid() != parent:
            return
    next_frames = evaluation.interval_frames
    while not shared.stop.is_set() and os.getppid() == parent:
        if next_frames is not None and shared.frames.value >= next_frames:
            throttle.restart()
            try:
                evaluate(final=False, pace=pace_while_training)
            except Stopped:
                break
            next_frames = (shared.frames.value // evaluation.interval_frames + 1) * evaluation.interval_frames
        else:
            time.sleep(0.1)
    if evaluation.final:
        while not shared.workers_done.wait(timeout=1.0):
            if os.getppid() != parent:
                return
        evaluate(final=True, pace=lambda: None)
