"""Continuous-control tasks (S9): every listed task constructs, resets and steps as the Gaussian policy sees it;
A3C trains on a MuJoCo task through the command line with 2 workers and writes complete results; and it
learns Pendulum-v1 within the CI budget."""

import json

import gymnasium as gym
import numpy as np
import pytest

from asyncbench.algorithms.a3c_continuous import A3CContinuous
from asyncbench.config import CONF_DIR, load_config
from asyncbench.envs import action_size, frames_per_step, make_env
from asyncbench.worker import random_states, set_random_states
from conftest import read_csv, read_run, run_app

# game -> (state entries, action dimensions), counted from each task's observation dict and actuators.
TASKS = {"dmc_cartpole_swingup": (5, 1), "dmc_cheetah_run": (17, 6), "dmc_reacher_easy": (6, 2),
         "dmc_pendulum_swingup": (3, 1), "dmc_point_mass_easy": (4, 2), "dmc_hopper_stand": (15, 4),
         "dmc_walker_walk": (24, 6), "half_cheetah": (17, 6), "pendulum": (3, 1)}


def test_every_continuous_task_in_conf_is_listed_here():
    configs = {path.stem for path in (CONF_DIR / "game").glob("*.yaml") if "kind: continuous" in path.read_text()
               or "/continuous@" in path.read_text()}
    assert configs == set(TASKS)


@pytest.mark.parametrize("game", TASKS)
def test_every_task_constructs_resets_and_steps_with_float32_state_vectors(game):
    config = load_config(["algorithm=a3c_continuous", f"game={game}"])
    env = make_env(config.game, config.atari, seed=0)
    entries, dims = TASKS[game]
    assert env.observation_space.shape == (entries,) and env.observation_space.dtype == np.float32
    assert isinstance(env.action_space, gym.spaces.Box) and action_size(env.action_space) == dims
    assert frames_per_step(config.game, config.atari) == 1
    observation, _ = env.reset(seed=1)
    for _ in range(5):
        assert observation.shape == (entries,) and observation.dtype == np.float32 and np.isfinite(observation).all()
        observation, reward, terminated, truncated, _ = env.step(np.full(dims, 3.0, np.float32))  # clipped to 1 (2)
        assert np.isfinite(reward) and not truncated
    env.close()


def test_a_control_suite_task_continues_its_random_stream_from_a_worker_s_saved_states():
    """The task draws its initial states from the stream the worker saves (env.np_random), as a resumed
    worker needs; a seed fixes it."""
    config = load_config(["algorithm=a3c_continuous", "game=dmc_cartpole_swingup"])
    env = make_env(config.game, config.atari, seed=5)
    saved = random_states(A3CContinuous, env)
    first = env.reset()[0]
    set_random_states(saved, A3CContinuous, env)
    assert np.array_equal(env.reset()[0], first)
    assert np.array_equal(make_env(config.game, config.atari, seed=5).reset()[0], first)
    assert not np.array_equal(make_env(config.game, config.atari, seed=6).reset()[0], first)


@pytest.mark.slow
def test_a3c_lstm_trains_on_a_mujoco_task_with_two_workers_and_writes_complete_results(tmp_path):
    # 4,000 frames: the two workers' first two episodes of 1,000 steps each, then the final evaluation's 2.
    done = run_app("algorithm=a3c_continuous_lstm", "game=dmc_cartpole_swingup", "threads=2", "frames=4000",
                   "evaluation.episodes=2", "status_interval_seconds=2", "progress_interval_seconds=1",
                   f"hydra.run.dir={tmp_path}", timeout=600)
    assert done.returncode == 0, done.stderr
    info, episodes, progress = read_run(tmp_path)
    assert info["status"] == "completed", info["error"]
    assert info["config"]["algorithm"]["name"] == "a3c_continuous_lstm" and info["summary"]["frames"] >= 4000
    assert {row["worker"] for row in episodes} == {"0", "1"}
    # Episodes end at the Control Suite's 1,000 steps; cartpole's reward is in [0, 1] a step.
    assert all(row["length"] == "1000" and 0 <= float(row["return"]) <= 1000 for row in episodes)
    assert progress and all(np.isfinite(float(row["entropy"])) for row in progress if row["entropy"])
    evaluations = read_csv(tmp_path / "evaluations.csv")
    assert len(evaluations) == 2 and all(row["length"] == "1000" for row in evaluations)
    assert info["summary"]["final_evaluation_mean"] == pytest.approx(np.mean([float(row["score"]) for row in evaluations]))
    assert json.loads((tmp_path / "run.json").read_text())["config"]["evaluation"]["policy"] == "greedy"


PENDULUM_LEARNED = -900.0  # the first policy's 100-episode mean is about -1,400; a policy that swings up scores -200


@pytest.mark.slow
def test_a3c_learns_pendulum_within_the_ci_budget(tmp_path):
    """conf/game/pendulum.yaml's settings, stopped by stop_return once the 100-episode mean reaches -900.
    Measured with these settings and 2 workers (the workers' interleaving differs from run to run): 10 runs
    of seed 0 reached it at T = 34k-136k of the 250k budget, 15 of 16 runs of seeds 0-15 by 135k; the 16th,
    and a later run of seed 0, held near -1,150 and -1,445 (2 stalls in 27 runs). So a second seed runs when
    the first stalls: A3C as measured fails this test about once in 180 tries; A3C that does not learn, always."""
    reached = {}
    for seed in (0, 1):
        run_dir = tmp_path / f"seed{seed}"
        done = run_app("algorithm=a3c_continuous", "game=pendulum", "threads=2", f"seed={seed}",
                       f"stop_return={PENDULUM_LEARNED}", "evaluation.enabled=false", f"hydra.run.dir={run_dir}",
                       timeout=600)
        assert done.returncode == 0, done.stderr
        info, episodes, _ = read_run(run_dir)
        returns = [float(row["return"]) for row in episodes]
        reached[seed] = info["summary"].get("stop_return_reached")
        print(f"Pendulum, seed {seed}: {reached[seed]}, last 100 episodes {np.mean(returns[-100:]):.0f}, "
              f"{info['summary']['wall_seconds']:.0f} s")
        assert np.mean(returns[:100]) < -1000  # the first policy does not swing up
        if reached[seed] is not None:
            break
    assert any(reached.values()), f"neither seed reached {PENDULUM_LEARNED}: {reached}"


@pytest.mark.slow
@pytest.mark.parametrize("game, algorithm, lr, surfaced", [
    # lr 10: the second update's gradient is NaN; lr 1e30: theta' stays finite, but the policy's mean overflows
    # and its action is NaN, which MuJoCo would refuse with a PhysicsError (Pendulum would score NaN)
    ("pendulum", "a3c_continuous", "10", "the gradient's norm is nan"),
    ("dmc_cartpole_swingup", "a3c_continuous_lstm", "1e30", "the policy's action is [[nan]]"),
])
def test_a_diverged_policy_fails_the_run_in_one_line_naming_the_divergence(tmp_path, game, algorithm, lr, surfaced):
    done = run_app(f"game={game}", f"algorithm={algorithm}", f"lr={lr}", "threads=1", "frames=20000",
                   "evaluation.enabled=false", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 1
    line, = done.stderr.strip().splitlines()
    assert "TrainingDiverged: training diverged by T=" in line and f"({surfaced}); a learning rate below lr={float(lr):g}" in line
    info, _, _ = read_run(tmp_path)
    assert info["status"] == "failed" and "training diverged" in info["error"]
