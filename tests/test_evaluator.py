"""The evaluator's throttle holds it to its CPU share; a finished run's weights can be evaluated again."""

import re
import shutil
import statistics
import subprocess
import sys
import time

import pytest

import torch

from asyncbench.config import compose_config, to_config
from asyncbench.evaluator import Player, Throttle
from conftest import ROOT, read_csv, run_app


def test_throttle_keeps_cpu_time_within_its_share_of_wall_time():
    throttle = Throttle(share=0.25, quantum=0.02)
    cpu, wall = time.process_time(), time.monotonic()
    while time.monotonic() - wall < 1.0:
        sum(range(2000))  # about 50 microseconds of work, as one evaluation step would do
        throttle.wait()
    used, elapsed = time.process_time() - cpu, time.monotonic() - wall
    assert used / elapsed == pytest.approx(0.25, abs=0.05)


def test_episodes_played_side_by_side_end_as_each_would_alone():
    """One batched forward acts for every episode still in play (3, then the other 3); as episodes end,
    their rows leave the batch (and the LSTM's state). Each must still be what its own environment plays alone."""
    config = to_config(compose_config(["game=cartpole", "algorithm=a3c_lstm", "seed=1", "evaluation.policy=greedy",
                                       "evaluation.episodes=6", "evaluation.side_by_side=3"]))
    together = {}
    Player(config).play(pace=lambda: None, ended=lambda episode, score, length: together.setdefault(episode, (score, length)))
    player = Player(config)  # the same seeds: the same weights and environments
    alone = {episode: play_alone(player, episode) for episode in range(6)}
    assert together == alone
    # Seed 1: episodes 0-5 end at steps 10, 9, 8, 9, 10, 10; in the second three, rows and episodes differ.
    assert len({length for _, length in alone.values()}) > 1


def play_alone(player, episode):
    env = player.envs[episode % len(player.envs)]  # as play() hands them out: episodes 0-2, then 3-5
    observation, _ = env.reset()
    player.method.start_episode()
    score, length, done = 0.0, 0, False
    while not done:
        action = int(player.choose(torch.as_tensor(observation)[None])[0])
        observation, reward, terminated, truncated, _ = env.step(action)
        score, length, done = score + float(reward), length + 1, terminated or truncated
    return score, length


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A short CartPole run whose evaluator made only its final evaluation, of 3 episodes."""
    run_dir = tmp_path_factory.mktemp("run")
    done = run_app("game=cartpole", "frames=20000", "evaluation.interval_frames=null", "evaluation.episodes=3",
                   f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr
    return run_dir


def reevaluate(run_dir, *protocol):
    return subprocess.run([sys.executable, "-m", "asyncbench.reevaluate", str(run_dir), *protocol], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_reevaluating_a_run_under_its_own_protocol_replays_its_final_evaluation(finished_run):
    done = reevaluate(finished_run)
    assert done.returncode == 0, done.stderr
    final = [float(row["score"]) for row in read_csv(finished_run / "evaluations.csv") if row["final"] == "True"]
    replayed = [float(score) for score in re.findall(r"^episode \d+/3: score (\S+),", done.stdout, re.MULTILINE)]
    assert replayed == final and len(final) == 3
    assert f"mean {statistics.mean(final):.2f} over 3 episodes, policy sampled" in done.stdout


def test_reevaluating_under_another_protocol_plays_it(finished_run):
    done = reevaluate(finished_run, "evaluation.policy=greedy", "evaluation.episodes=2")
    assert done.returncode == 0, done.stderr
    scores = [float(score) for score in re.findall(r"^episode \d+/2: score (\S+),", done.stdout, re.MULTILINE)]
    assert len(scores) == 2
    assert f"mean {statistics.mean(scores):.2f} over 2 episodes, policy greedy" in done.stdout


@pytest.mark.parametrize("protocol, message", [
    (["lr=0.1"], "lr=0.1 cannot change: the weights were trained with the run's settings"),
    (["evaluation.polcy=greedy"], "evaluation.polcy is not a setting (did you mean evaluation.policy?)"),
    (["evaluation.policy=best"], "evaluation.policy='best' is not allowed: expected one of sampled, greedy, epsilon"),
    (["evaluation.episodes=abc"], "evaluation.episodes=abc is not allowed: expected an integer"),
])
def test_a_bad_protocol_is_refused_in_one_line(finished_run, protocol, message):
    done = reevaluate(finished_run, *protocol)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_a_corrupt_model_file_is_refused_in_one_line(finished_run, tmp_path):
    shutil.copy(finished_run / "run.json", tmp_path / "run.json")
    (tmp_path / "model.pt").write_bytes((finished_run / "model.pt").read_bytes()[:100])
    done = reevaluate(tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"{tmp_path}/model.pt is not this run's network" in done.stderr


def test_a_directory_without_a_run_is_refused_in_one_line(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    done = reevaluate(tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"{tmp_path}/run.json is not a run's run.json" in done.stderr
    done = reevaluate(tmp_path / "missing")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert f"No such file or directory: {tmp_path}/missing/run.json" in done.stderr
