"""The evaluator: a separate process that plays episodes with snapshots of the shared parameters.

Every `evaluation.interval_frames` global frames it copies theta and plays `evaluation.episodes`
episodes, `evaluation.side_by_side` at a time, with the game's own protocol (Atari: up to 30 no-op
starts, the 30-minute cap) and the policy `evaluation.policy`. While training runs, training loses at
most `evaluation.cpu_share` of one core to it: it sleeps to keep its own CPU time within most of that
share of the wall-clock time of each evaluation, the rest being what its context switches and cache
misses cost the workers. Once the workers have stopped, it evaluates the final weights at full speed.
Like the workers, it only sends records; the main process writes evaluations.csv.
"""

from __future__ import annotations

import os
import random
import signal
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.utils import vector_to_parameters

from asyncbench.algorithms import ALGORITHMS
from asyncbench.config import Config
from asyncbench.envs import action_size, make_env
from asyncbench.helper_processes import follow_main_process, take_environment
from asyncbench.learner import build_network
from asyncbench.messages import EVALUATOR_RANK, EvaluationEpisode, WorkerReady, failure_reported
from asyncbench.shared import SharedState
from asyncbench.worker import prepare_torch, worker_seed

# The part of `evaluation.cpu_share` left for what the evaluator costs the workers beyond its own CPU
# time (the caches it evicts, the switches). Measured with 2 workers on 2 cores, Pong, share 0.25 (12.5%
# of the machine), 3 paired runs each: with its own CPU held to the whole share, training lost 12.9-14.2%
# of its frames/s; held to 85% of it, 11.1-13.2%; held to 75%, 8.3-13.6% (mean 10.2%).
SWITCHING_ALLOWANCE = 0.25


class Stopped(Exception):
    """Training stopped during a periodic evaluation, or the main process died during any: its
    unfinished episode is dropped."""


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


def run_evaluator(config: Config, shared: SharedState, records: Connection, environment: dict[str, str]) -> None:
    """Entry point of the evaluator process, started with the main process's `environment`."""
    parent = follow_main_process()  # first: the main process may die while this one sets up
    take_environment(environment)
    prepare_torch()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with failure_reported(EVALUATOR_RANK, records):
        _evaluate(config, shared, records, parent)


class Player:
    """The evaluator's side of a game: one environment per episode played at once, a network and the
    policy `evaluation.policy`, seeded from (seed, `evaluation.seed_offset`), so that the same weights
    play the same episodes; `render_mode` as `make_env`'s (a video's)."""

    def __init__(self, config: Config, render_mode: str | None = None):
        self.evaluation = config.evaluation
        seed = worker_seed(config.seed, self.evaluation.seed_offset)
        torch.manual_seed(seed)
        self.rng = random.Random(seed)
        # Setting up an Atari game costs 0.17 s of CPU: only as many as play at once.
        env_seeds = np.random.SeedSequence([config.seed, self.evaluation.seed_offset]).generate_state(
            min(self.evaluation.side_by_side, self.evaluation.episodes))
        self.envs = [make_env(config.game, config.atari, int(env_seed), render_mode) for env_seed in env_seeds]
        self.n_actions = action_size(self.envs[0].action_space)
        self.method = ALGORITHMS[config.algorithm.name](config.algorithm, config.gamma, seed)
        self.network = build_network(config, self.envs[0].observation_space.shape, self.n_actions)

    def choose(self, observations: torch.Tensor) -> torch.Tensor:
        if self.evaluation.policy == "sampled":
            return self.method.sampled_actions(self.network, observations)
        actions = self.method.greedy_actions(self.network, observations)
        if self.evaluation.policy == "epsilon":
            for row in range(len(actions)):
                if self.rng.random() < self.evaluation.epsilon:
                    actions[row] = self.rng.randrange(self.n_actions)
        return actions

    def play(self, pace: Callable[[], None], ended: Callable[[int, float, int], None]) -> None:
        """Play one episode in each environment to its end (terminal, or the game's cap), up to
        `evaluation.side_by_side` at once; call `ended(episode, raw score, length)` as each ends."""
        at_once = len(self.envs)
        for first in range(0, self.evaluation.episodes, at_once):
            playing = list(range(first, min(first + at_once, self.evaluation.episodes)))
            self._play_side_by_side(playing, dict(zip(playing, self.envs)), pace, ended)

    def _play_side_by_side(self, playing: list[int], envs: dict[int, Any], pace: Callable[[], None],
                           ended: Callable[[int, float, int], None]) -> None:
        # One batched forward chooses the actions of every episode still in play: on Pong a forward for
        # five states costs about twice one for a single state.
        observations = {episode: envs[episode].reset()[0] for episode in playing}
        scores, lengths = dict.fromkeys(playing, 0.0), dict.fromkeys(playing, 0)
        self.method.start_episode(len(playing))
        while playing:
            actions = self.choose(torch.as_tensor(np.stack([observations[episode] for episode in playing])))
            going_on = []
            for row, (episode, action) in enumerate(zip(playing, actions.tolist())):
                observations[episode], reward, terminated, truncated, _ = envs[episode].step(action)
                scores[episode] += float(reward)
                lengths[episode] += 1
                if terminated or truncated:
                    ended(episode, scores[episode], lengths[episode])
                else:
                    going_on.append(row)
            if len(going_on) < len(playing):
                self.method.keep_episodes(going_on)
                playing = [playing[row] for row in going_on]
            pace()


def _evaluate(config: Config, shared: SharedState, records: Connection, parent: int) -> None:
    evaluation = config.evaluation
    player = Player(config)
    records.send(WorkerReady(EVALUATOR_RANK, os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"),
                             sorted(os.sched_getaffinity(0)), False))

    def evaluate(final: bool, pace: Callable[[], None]) -> None:
        frames = shared.frames.value
        vector_to_parameters(shared.parameters.clone(), player.network.parameters())  # the snapshot

        def ended(episode: int, score: float, length: int) -> None:
            records.send(EvaluationEpisode(frames, time.monotonic() - shared.start_time.value, episode, score,
                                           length, final))

        player.play(pace, ended)

    throttle = Throttle(evaluation.cpu_share * (1 - SWITCHING_ALLOWANCE))

    def pace_while_training() -> None:
        if shared.stop.is_set() or os.getppid() != parent:
            raise Stopped()
        throttle.wait()

    def pace_at_full_speed() -> None:
        if os.getppid() != parent:
            raise Stopped()

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
        try:
            evaluate(final=True, pace=pace_at_full_speed)
        except Stopped:
            return
