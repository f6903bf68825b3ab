"""`python -m asyncbench.reevaluate RUN_DIR --video`: a tiny real run, then its episodes on video, decoded
back and counted frame by frame."""

import re
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from analysis.loading import load_results
from analysis.report import write_report
from asyncbench.video import BEST_GIF, VIDEO_DIR, write_gif
from conftest import ROOT, run_app
from tests.synthetic_runs import write_run

TINY_RUN = ("threads=1", "frames=2000", "evaluation.enabled=false", "status_interval_seconds=2")


def reevaluate(run_dir, *arguments):
    return subprocess.run([sys.executable, "-m", "asyncbench.reevaluate", str(run_dir), *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def gif_frames_and_milliseconds(path):
    with Image.open(path) as gif:
        durations = []
        for frame in range(gif.n_frames):
            gif.seek(frame)
            durations.append(gif.info["duration"])
        return gif.n_frames, sum(durations), gif.size


@pytest.mark.slow
@pytest.mark.parametrize("game, cap, size, milliseconds_a_frame", [
    ("minatar_breakout", "game.minatar.max_episode_steps=50", (160, 160), 100),  # 16 pixels a cell, 10 steps/s
    ("pong", "atari.max_episode_frames=400", (160, 210), 70),  # the screen, every 4th of 60 frames/s: 66.7 ms
])
def test_each_episode_is_an_mp4_and_the_best_a_gif_with_one_frame_per_step(tmp_path, game, cap, size,
                                                                               milliseconds_a_frame):
    trained = run_app(f"game={game}", *TINY_RUN, f"hydra.run.dir={tmp_path}")
    assert trained.returncode == 0, trained.stderr
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "episode-7.mp4").write_text("from an earlier recording")

    done = reevaluate(tmp_path, "--video", "evaluation.episodes=3", "evaluation.side_by_side=2", cap)

    assert done.returncode == 0, done.stderr
    played = {int(episode) - 1: (float(score), int(steps.replace(",", ""))) for episode, score, steps in
              re.findall(r"episode (\d+)/3: score (\S+), ([\d,]+) steps", done.stdout)}
    assert sorted(played) == [0, 1, 2]
    assert sorted(path.name for path in (tmp_path / "videos").iterdir()) == [
        "best_episode.gif", "episode-0.mp4", "episode-1.mp4", "episode-2.mp4"]
    for episode, (_, steps) in played.items():  # the reset's frame, then one a step
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "videos" / f"episode-{episode}.mp4"))
        # moviepy (RecordVideo's writer) sums 1/fps once a frame and drops the last frame where the sum
        # falls short of n/fps by a rounding error (94 frames at 15 per second: 93 written).
        assert frames in (steps, steps + 1)
    best_score = max(score for score, _ in played.values())
    best_steps = next(steps for score, steps in played.values() if score == best_score)
    frames, milliseconds, gif_size = gif_frames_and_milliseconds(tmp_path / "videos" / "best_episode.gif")
    # A frame that repeats is shown once for the time of both.
    assert milliseconds == (best_steps + 1) * milliseconds_a_frame
    assert 1 < frames <= best_steps + 1 and gif_size == size


@pytest.mark.slow
def test_a_mujoco_task_plays_in_real_time_and_its_gif_keeps_every_fourth_frame(tmp_path):
    """cartpole-swingup acts every 0.01 s of its simulated time: the MP4 plays 100 frames a second, the GIF
    every 4th frame for 40 ms (25 a second). MuJoCo draws through EGL, without a display."""
    trained = run_app("game=dmc_cartpole_swingup", "algorithm=a3c_continuous", *TINY_RUN, f"hydra.run.dir={tmp_path}")
    assert trained.returncode == 0, trained.stderr

    done = reevaluate(tmp_path, "--video", "evaluation.episodes=1")

    assert done.returncode == 0, done.stderr
    assert re.search(r"episode 1/1: score \S+, 1,000 steps", done.stdout)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "videos" / "episode-0.mp4"))
    assert frames in (1000, 1001) and seconds == pytest.approx(10.0, abs=0.02)  # the reset's frame, then one a step
    frames, milliseconds, gif_size = gif_frames_and_milliseconds(tmp_path / "videos" / BEST_GIF)
    assert milliseconds == 251 * 40 and 1 < frames <= 251  # frames 0, 4, ..., 1000
    assert gif_size == (160, 120)  # MuJoCo's 320x240 camera, at most 160 wide


@pytest.mark.slow
def test_video_of_a_game_without_a_screen_fails_with_one_line(tmp_path):
    trained = run_app("game=cartpole", *TINY_RUN, f"hydra.run.dir={tmp_path}")
    assert trained.returncode == 0, trained.stderr

    done = reevaluate(tmp_path, "--video")

    assert done.returncode != 0 and not (tmp_path / "videos").exists()
    assert done.stderr.strip().splitlines() == [
        "asyncbench.reevaluate: error: --video does not fit game=cartpole (classic control, drawn with pygame): "
        "expected an Atari, a MinAtar or a MuJoCo game"]


@pytest.mark.slow
def test_the_report_shows_the_recorded_episode_of_the_best_run_of_each_game(tmp_path):
    # Three runs of one game, the better two recorded: the report shows the best recorded one's GIF.
    for seed, score, colour in ((0, 5.0, 40), (1, 9.0, 200), (2, 20.0, None)):
        run_dir = tmp_path / "runs" / str(seed)
        write_run(run_dir, algorithm="a3c", game="minatar_breakout", seed=seed, episodes=[(1000, 1.0, score)],
                  final_scores=[score])
        if colour is not None:
            (run_dir / VIDEO_DIR).mkdir()
            write_gif([np.full((20, 20, 3), colour, np.uint8)] * 2, 10, run_dir / VIDEO_DIR / BEST_GIF)

    report = write_report(load_results([tmp_path / "runs"]), tmp_path / "report", "test").read_text()

    shown = tmp_path / "report" / "figures" / f"minatar_breakout_{BEST_GIF}"
    assert f"](figures/minatar_breakout_{BEST_GIF})" in report and str(tmp_path / "runs" / "1") in report
    assert shown.read_bytes() == (tmp_path / "runs" / "1" / VIDEO_DIR / BEST_GIF).read_bytes()
