"""The evaluation episodes on video (`python -m asyncbench.reevaluate RUN_DIR --video`).

Each episode the evaluator's player plays is recorded by gymnasium's `RecordVideo` to
`videos/episode-N.mp4` in the run directory, one frame at the reset and one per agent step, at the
game's own pace; the best-scoring episode is also written as `videos/best_episode.gif`, which
`python -m analysis report` shows for the best run of each game. Atari shows the emulator's screen in
colour, MinAtar its grid (`asyncbench.envs.MinAtarPictures`), a MuJoCo task MuJoCo's own camera.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import RecordVideo
from PIL import Image

from asyncbench.config import Config
from asyncbench.envs import control_steps_per_second
from asyncbench.evaluator import Player

VIDEO_DIR = "videos"
BEST_GIF = "best_episode.gif"
ATARI_FRAMES_PER_SECOND = 60  # the 2600's screen rate: a video of every frame_skip-th frame plays in real time
MINATAR_STEPS_PER_SECOND = 10  # MinAtar has no clock of its own; 10 steps a second can be followed by eye
GIF_WIDTH = 160  # pixels at most: the Atari screen's own width, MinAtar's 10 cells of 16 pixels
# Browsers show a GIF frame shorter than 20 ms for 100 ms: a faster video (a MuJoCo task acting 100 times a
# simulated second) keeps every k-th frame in its GIF, at most this many a second.
GIF_FRAMES_PER_SECOND = 25


def frames_per_second(config: Config, env: gym.Env) -> float:
    """The video's pace, one frame per agent step: the game's own where it has a clock."""
    if config.game.kind == "atari":
        return ATARI_FRAMES_PER_SECOND / config.atari.frame_skip
    if config.game.kind == "continuous":
        return control_steps_per_second(env)
    return MINATAR_STEPS_PER_SECOND


class Recording:
    """Records every episode `player` plays into `run_dir/videos` (emptied first: it holds only this
    command's output). `player` must have been built with `render_mode="rgb_array"`."""

    def __init__(self, player: Player, run_dir: Path, fps: float):
        self.directory = run_dir / VIDEO_DIR
        shutil.rmtree(self.directory, ignore_errors=True)
        self.player = player
        # One folder per environment: RecordVideo warns when its folder exists, and numbers episodes per
        # environment; `finish` renames them by the evaluation's episode number.
        player.envs = [RecordVideo(env, str(self._env_dir(index)), episode_trigger=lambda _: True, fps=fps,
                                   name_prefix="env")
                       for index, env in enumerate(player.envs)]
        self.fps = fps
        self.best: tuple[float, list[np.ndarray]] | None = None  # the best episode's score and frames so far

    def _env_dir(self, index: int) -> Path:
        return self.directory / f".env{index}"

    def ended(self, episode: int, score: float) -> None:
        """Episode `episode` ended with `score`: keep its frames if it is the best so far (the first of equals)."""
        if self.best is None or score > self.best[0]:
            # Its environment's recording holds them until that environment's next reset.
            self.best = score, list(self.player.envs[episode % len(self.player.envs)].recorded_frames)

    def finish(self, episodes: int) -> list[Path]:
        """Write the last videos, name them by episode (0 to `episodes` - 1), and write the GIF of the
        best-scoring episode; return the paths written."""
        at_once = len(self.player.envs)
        for env in self.player.envs:
            env.close()  # RecordVideo writes an episode's video at the next reset, the last one here
        videos = []
        for episode in range(episodes):
            recorded = self._env_dir(episode % at_once) / f"env-episode-{episode // at_once}.mp4"
            videos.append(recorded.rename(self.directory / f"episode-{episode}.mp4"))
        for index in range(at_once):
            self._env_dir(index).rmdir()
        gif = self.directory / BEST_GIF
        write_gif(self.best[1], self.fps, gif)
        return [*videos, gif]


def write_gif(frames: list[np.ndarray], fps: float, gif: Path) -> None:
    """`frames` as an endlessly looping GIF at `fps` (every k-th frame above `GIF_FRAMES_PER_SECOND`), at
    most `GIF_WIDTH` pixels wide. From the frames themselves, not the MP4's lossy ones: between two frames
    only what moved changes, which GIF stores small."""
    every = math.ceil(fps / GIF_FRAMES_PER_SECOND)
    pictures = [Image.fromarray(frame) for frame in frames[::every]]
    if pictures[0].width > GIF_WIDTH:
        height = round(pictures[0].height * GIF_WIDTH / pictures[0].width)
        # Only a MuJoCo camera is wider: averaged, as a photograph is shrunk
        pictures = [picture.resize((GIF_WIDTH, height), Image.Resampling.BOX) for picture in pictures]
    milliseconds = 10 * round(100 * every / fps)  # GIF counts hundredths: Atari's 66.7 ms a frame plays as 70
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=milliseconds, loop=0, optimize=True)
