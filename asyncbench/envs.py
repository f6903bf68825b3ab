"""Environments: Atari through gymnasium + ale-py with the paper's preprocessing, MinAtar, classic control,
and continuous control (the DeepMind Control Suite through shimmy, gymnasium's MuJoCo tasks)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import ale_py
import cv2
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from asyncbench.config import AtariConfig, GameConfig, MinAtarConfig

gym.register_envs(ale_py)
SCREEN = (160, 210)  # the Atari 2600 screen, (width, height): AtariPreprocessing leaves it unresized


def make_env(game: GameConfig, atari: AtariConfig, seed: int, render_mode: str | None = None) -> gym.Env:
    """A seeded environment; Atari games get Mnih et al. 2015's preprocessing (cited in S8).
    `render_mode="rgb_array"`: `render()` returns the screen in colour (a video's frame).

    Atari: the minimal action set, `frame_skip` repeats of each action with a max over the last
    two frames, luminance, the rows `crop_rows` if set, `screen_size` square, up to `noop_max` no-ops
    at reset, a stack of `frame_stack` frames and an episode cap of `max_episode_frames` emulator
    frames. Rewards are left raw here (the learner clips them), so the score an episode reports is
    the game's own.

    MinAtar: `game.minatar`'s sticky actions, difficulty ramping and episode cap; the action set is the
    id's version (-v0 all 6 actions, -v1 the game's own).

    Continuous control: see `_control`.
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
            render_mode=render_mode,
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
    elif game.kind == "minatar":
        env = _minatar(game.env_id, game.minatar)
        if render_mode == "rgb_array":
            env = MinAtarPictures(env)
    elif game.kind == "continuous":
        env = _control(game.env_id, render_mode)
    else:
        env = gym.make(game.env_id, render_mode=render_mode)
        if game.observed_indices is not None:
            env = _observe_only(env, list(game.observed_indices))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def _control(env_id: str, render_mode: str | None = None) -> gym.Env:
    """A continuous-control task (S9) as the Gaussian policy sees it.

    Observations: the task's state (joint positions, velocities, the target's position where there is one)
    as one float32 vector; the Control Suite's dicts are flattened. Actions: clipped to the action space's
    bounds on their way in, so that the learner keeps the unclipped sample whose log-likelihood it takes.
    The Control Suite's ids (`dm_control/...`) exist only once shimmy is imported, which loads MuJoCo:
    only processes that play one pay for it.
    """
    # MuJoCo takes its OpenGL backend from MUJOCO_GL once, when it is first imported. Where nothing is
    # rendered, none: dm_control would try each at import, and GLFW warns where there is no display. For a
    # video, EGL, which draws without a display (on the CPU through Mesa where there is no GPU).
    if render_mode is None:
        os.environ.setdefault("MUJOCO_GL", "disable")
    elif os.environ.get("MUJOCO_GL", "disable") == "disable":
        os.environ["MUJOCO_GL"] = "egl"
    if env_id.startswith("dm_control/"):
        if env_id not in gym.registry:
            import shimmy

            gym.register_envs(shimmy)
        env = ControlSuiteStream(gym.wrappers.FlattenObservation(gym.make(env_id, render_mode=render_mode)))
    else:
        env = gym.make(env_id, render_mode=render_mode)
    # float32, the networks' type (the Control Suite's are float64); the flattened dicts are unbounded anyway.
    space = gym.spaces.Box(-np.inf, np.inf, env.observation_space.shape, np.float32)
    env = gym.wrappers.TransformObservation(env, lambda observation: observation.astype(np.float32), space)
    return gym.wrappers.ClipAction(env)


class ControlSuiteStream(gym.Wrapper):
    """A Control Suite task's random stream as a worker saves it.

    The Control Suite draws initial states from a RandomState of its task's, which shimmy gives as the
    env's `np_random`; here that RandomState runs on the bit generator of a gymnasium Generator, which
    is `np_random` instead, so that the worker's saved random states (`env.np_random`) hold the task's
    and a resumed run continues its stream (as MinAtarPlanes does for MinAtar).
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._stream, _ = gym.utils.seeding.np_random(None)

    @property
    def np_random(self) -> np.random.Generator:
        return self._stream

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._stream, _ = gym.utils.seeding.np_random(seed)
            self.env.np_random = np.random.RandomState(self._stream.bit_generator)
        return super().reset(options=options)  # no seed: shimmy would replace the task's RandomState


def control_steps_per_second(env: gym.Env) -> float:
    """A continuous-control task's agent steps per second of its simulated time (a video's real-time pace)."""
    task = env.unwrapped
    if env.spec is not None and env.spec.id.startswith("dm_control/"):
        # shimmy (2.0.1) writes control_timestep * 1000 into metadata["render_fps"] (10 for cheetah-run,
        # whose agent acts every 0.01 s), not its inverse
        return 1.0 / task._env.control_timestep()
    return float(task.metadata["render_fps"])  # gymnasium's MuJoCo tasks: 1 / dt


def action_size(space: gym.Space) -> int:
    """The policy's output size: the number of actions of a discrete space, the dimensions of a continuous one."""
    return int(space.n) if isinstance(space, gym.spaces.Discrete) else int(np.prod(space.shape))


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


def _minatar(env_id: str, settings: MinAtarConfig) -> gym.Env:
    """A MinAtar game (Young & Tian 2019) with `settings`, its grid channels first in float32.

    The package's gymnasium ids exist only once `minatar.gym.register_envs()` has run (gymnasium >= 1.0
    does not read the entry point that would run it).
    """
    if env_id not in gym.registry:
        with _plotting_libraries_left_out():
            from minatar.gym import register_envs

        register_envs()
    env = gym.make(env_id, sticky_action_prob=settings.sticky_action_probability,
                   difficulty_ramping=settings.difficulty_ramping, max_episode_steps=settings.max_episode_steps)
    return MinAtarPlanes(env)


@contextmanager
def _plotting_libraries_left_out() -> Iterator[None]:
    """Meanwhile matplotlib and seaborn, unless loaded already, cannot be imported, and nothing logs a warning.

    MinAtar 1.0 imports both as it loads, for its own display only, and warns when it cannot: 2.7 s of
    every process that plays it (the main process, each worker, the evaluator). asyncbench draws MinAtar
    itself (MinAtarPictures) and never calls that display.
    """
    left_out = [name for name in ("matplotlib", "seaborn") if name not in sys.modules]
    disabled = logging.root.manager.disable
    sys.modules.update(dict.fromkeys(left_out))  # None: an import of it raises ImportError
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(disabled)
        for name in left_out:
            del sys.modules[name]


class MinAtarPlanes(gym.ObservationWrapper):
    """MinAtar as the networks and checkpoints see it.

    Observations: the (10, 10, C) boolean grid as (C, 10, 10) float32 planes, the layout a convolution
    reads. Randomness: MinAtar draws its spawns and sticky actions from a RandomState of its own; here
    that RandomState runs on the bit generator of gymnasium's `np_random`, so that the worker's saved
    random states (`env.np_random`) hold MinAtar's too and a resumed run continues its stream.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        rows, columns, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, (channels, rows, columns), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random, _ = gym.utils.seeding.np_random(seed)
            game = self.unwrapped.game
            game.random = game.env.random = np.random.RandomState(self.np_random.bit_generator)
        return super().reset(options=options)  # no seed: MinAtar would replace its RandomState

    def observation(self, grid: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(grid.transpose(2, 0, 1), dtype=np.float32)


class MinAtarPictures(gym.Wrapper):
    """MinAtar's grid as a picture for a video: black where a cell is empty, else the colour of the
    last channel set in it (as MinAtar's own display), each cell `CELL_PIXELS` pixels square. MinAtar's
    own rgb_array is 10x10 pixels, too small to watch."""

    CELL_PIXELS = 16
    # Matplotlib's tab10, one colour a channel (MinAtar's games have at most 10 channels).
    COLOURS = np.array([(0, 0, 0), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)], np.uint8)
    render_mode = "rgb_array"

    def render(self) -> np.ndarray:
        grid = self.unwrapped.game.state()  # (10, 10, channels) booleans
        last_set = (grid * np.arange(1, grid.shape[2] + 1)).max(axis=2)
        return self.COLOURS[last_set].repeat(self.CELL_PIXELS, axis=0).repeat(self.CELL_PIXELS, axis=1)


def frames_per_step(game: GameConfig, atari: AtariConfig) -> int:
    """Emulator frames per agent step: the paper's T and budgets count frames (S8). A MinAtar step is
    one frame of its game (MinAtar has no frame skip), as Young & Tian count frames."""
    return atari.frame_skip if game.kind == "atari" else 1
