"""Environments: Atari through gymnasium + ale-py with the paper's preprocessing, and classic control."""

from __future__ import annotations

import ale_py
import cv2
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from asyncbench.config import AtariConfig, GameConfig

gym.register_envs(ale_py)
SCREEN = (160, 210)  # the Atari 2600 screen, (width, height): AtariPreprocessing leaves it unresized


def make_env(game: GameConfig, atari: AtariConfig, seed: int) -> gym.Env:
    """A seeded environment; Atari games get Mnih et al. 2015's preprocessing (cited in S8).

    Atari: the minimal action set, `frame_skip` repeats of each action with a max over the last
    two frames, luminance, the rows `crop_rows` if set, `screen_size` square, up to `noop_max` no-ops
    at reset, a stack of `frame_stack` frames and an episode cap of `max_episode_frames` emulator
    frames. Rewards are left raw here (the learner clips them), so the score an episode reports is
    the game's own.
    """
    if game.kind == "atari":
        env = gym.make(
            game.env_id,
            # AtariPreprocessing reads each screen it keeps from the emulator itself and discards what the
            # base env returns every frame: grayscale is the cheapest screen that leaves its buffers their
            # shape (RGB, the default, copies 100 KB a frame through the cache: 28 us an agent step).
            obs_type="grayscale",
            frameskip=1,
            repeat_action_probability=atari.repeat_action_probability,
            max_num_frames_per_episode=atari.max_episode_frames,
            full_action_space=False,
        )
        env = AtariPreprocessing(
            env,
            noop_max=atari.noop_max,
            frame_skip=atari.frame_skip,
            screen_size=atari.screen_size if atari.crop_rows is None else SCREEN,
            terminal_on_life_loss=atari.terminal_on_life_loss,
            grayscale_obs=True,
            scale_obs=False,
        )
        if atari.crop_rows is not None:
            env = _crop_and_resize(env, list(atari.crop_rows), atari.screen_size)
        env = FrameStackObservation(env, stack_size=atari.frame_stack)
    else:
        env = gym.make(game.env_id)
        if game.observed_indices is not None:
            env = _observe_only(env, list(game.observed_indices))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def _crop_and_resize(env: gym.Env, rows: list[int], size: int) -> gym.Env:
    """Keep screen rows rows[0]..rows[1]-1, then resize to size x size as AtariPreprocessing would (area
    interpolation): Pong's playfield without its score and borders, as universe-starter-agent's 42x42."""
    top, bottom = rows
    space = gym.spaces.Box(0, 255, (size, size), np.uint8)
    return gym.wrappers.TransformObservation(
        env, lambda frame: cv2.resize(frame[top:bottom], (size, size), interpolation=cv2.INTER_AREA), space)


def _observe_only(env: gym.Env, indices: list[int]) -> gym.Env:
    """Hide every entry of a vector observation except `indices` (e.g. CartPole's velocities)."""
    space = env.observation_space
    observed = gym.spaces.Box(space.low[indices], space.high[indices], dtype=space.dtype)
    return gym.wrappers.TransformObservation(env, lambda observation: observation[indices], observed)


def frames_per_step(game: GameConfig, atari: AtariConfig) -> int:
    """Emulator frames per agent step: the paper's T and budgets count frames (S8)."""
    return atari.frame_skip if game.kind == "atari" else 1
