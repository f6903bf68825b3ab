"""Environments: Atari through gymnasium + ale-py with the paper's preprocessing, and classic control."""

from __future__ import annotations

import ale_py
import gymnasium as gym
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from asyncbench.config import AtariConfig, GameConfig

gym.register_envs(ale_py)


def make_env(game: GameConfig, atari: AtariConfig, seed: int) -> gym.Env:
    """A seeded environment; Atari games get Mnih et al. 2015's preprocessing (cited in S8).

    Atari: the minimal action set, `frame_skip` repeats of each action with a max over the last
    two frames, luminance, `screen_size` square, up to `noop_max` no-ops at reset, a stack of
    `frame_stack` frames and an episode cap of `max_episode_frames` emulator frames. Rewards are
    left raw here (the learner clips them), so the score an episode reports is the game's own.
    """
    if game.kind == "atari":
        env = gym.make(
            game.env_id,
            frameskip=1,
            repeat_action_probability=atari.repeat_action_probability,
            max_num_frames_per_episode=atari.max_episode_frames,
            full_action_space=False,
        )
        env = AtariPreprocessing(
            env,
            noop_max=atari.noop_max,
            frame_skip=atari.frame_skip,
            screen_size=atari.screen_size,
            terminal_on_life_loss=atari.terminal_on_life_loss,
            grayscale_obs=True,
            scale_obs=False,
        )
        env = FrameStackObservation(env, stack_size=atari.frame_stack)
    else:
        env = gym.make(game.env_id)
        if game.observed_indices is not None:
            env = _observe_only(env, list(game.observed_indices))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def _observe_only(env: gym.Env, indices: list[int]) -> gym.Env:
    """Hide every entry of a vector observation except `indices` (e.g. CartPole's velocities)."""
    space = env.observation_space
    observed = gym.spaces.Box(space.low[indices], space.high[indices], dtype=space.dtype)
    return gym.wrappers.TransformObservation(env, lambda observation: observation[indices], observed)


def frames_per_step(game: GameConfig, atari: AtariConfig) -> int:
    """Emulator frames per agent step: the paper's T and budgets count frames (S8)."""
    return atari.frame_skip if game.kind == "atari" else 1
