"""The Hydra app end to end: real command line, real processes, real emulator, files on disk."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncbench.config import load_config
from asyncbench.errors import USAGE_ERROR, explain
from conftest import ROOT, read_csv, read_run, run_app

QUICK = ("status_interval_seconds=2", "progress_interval_seconds=1")


def assert_complete(run_dir, threads):
    info, episodes, progress = read_run(run_dir)
    assert info["status"] == "completed", info["error"]
    assert info["error"] is None
    summary = info["summary"]
    assert summary["frames"] >= info["config"]["frames"]
    assert summary["frames_per_second"] > 0 and summary["wall_seconds"] > 0
    # Reproducibility record.
    assert info["config"]["threads"] == threads and info["seed"] == info["config"]["seed"]
    assert {"python", "torch", "gymnasium", "ale-py", "asyncbench"} <= set(info["versions"])
    assert info["git"]["commit"] and info["git"]["dirty"] in (True, False)
    assert info["host"]["cpu_model"] and info["host"]["cpu_count"] >= 1
    assert info["started_at"] < info["ended_at"]
    # One torch thread and one OpenMP thread inside every worker, as each worker saw it.
    assert [(w["rank"], w["torch_threads"], w["omp_num_threads"], w["exit_code"]) for w in info["workers"]] == [
        (rank, 1, "1", 0) for rank in range(threads)
    ]
    # Each worker pinned to one core, spread over the usable cores.
    assert all(len(w["cores"]) == 1 for w in info["workers"])
    assert len({w["cores"][0] for w in info["workers"]}) == min(threads, len(os.sched_getaffinity(0)))
    assert progress and int(progress[-1]["T"]) == summary["frames"]
    assert {int(row["worker"]) for row in episodes} <= set(range(threads))
    return info, episodes, progress


@pytest.mark.slow
def test_multirun_over_threads_writes_two_complete_runs(tmp_path):
    done = run_app("-m", "threads=1,2", "game=cartpole", "frames=20000", *QUICK,
                   f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=threads_${threads}")
    assert done.returncode == 0, done.stderr
    for threads in (1, 2):
        _, episodes, _ = assert_complete(tmp_path / f"threads_{threads}", threads)
        assert {int(row["worker"]) for row in episodes} == set(range(threads))
        assert all(int(row["length"]) == float(row["return"]) for row in episodes)  # CartPole: +1 a step


@pytest.mark.slow
def test_short_pong_run_on_the_real_rom(tmp_path):
    # Two final evaluation episodes, not the default 10: 10 of Pong took 10 of the run's 18 s.
    done = run_app("game=pong", "threads=2", "frames=16000", "evaluation.episodes=2", *QUICK, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    info, _, progress = assert_complete(tmp_path, threads=2)
    assert info["config"]["model"]["name"] == "small"  # the game picked the paper's Atari network
    assert float(progress[-1]["entropy"]) > 0
    assert (tmp_path / "model.pt").stat().st_size > 2_000_000  # 0.68M float32 parameters


@pytest.mark.parametrize("override, message", [
    ("threads=0", "threads=0 is not allowed: expected an integer >= 1"),
    ("t_max=-1", "t_max=-1 is not allowed: expected an integer >= 1"),
    ("game=pongg", "game=pongg is not allowed: expected one of alien, amidar, assault, asterix,"),
    ("thread=2", "thread is not a setting (did you mean threads?); settings here: algorithm,"),
    ("algorithm.betta=0.1", "algorithm.betta is not a setting (did you mean algorithm.beta?)"),
    ("lr=abc", "lr=abc is not allowed: expected a number"),
    ("frames=1.5", "frames=1.5 is not allowed: expected an integer"),
    ("algorithm=a3cc", "algorithm=a3cc is not allowed: expected one of a3c"),
    ("algorithm=minatar/nstepq", "algorithm=minatar/nstepq is not allowed: expected one of a3c, a3c_continuous, "
                                 "a3c_continuous_lstm, a3c_lstm, minatar/a3c_lstm, minatar/nstep_q, minatar/onestep_q,"),
    ("optimizer.alpha=2", "optimizer.alpha=2.0 is not allowed: expected a number in [0, 1]"),
    ("model=small", "model=small does not fit game=cartpole (vector observations): expected model=mlp"),
    ("threads=1000", "evaluation.seed_offset=999 is not allowed with threads=1000: expected an integer >= 1000"),
    ("optimizer.epsilon=0.1", "optimizer.epsilon is not a setting (did you mean optimizer.eps?)"),
    ("atari.crop_rows=[50,20]", "atari.crop_rows=[50, 20] is not allowed: expected [top, bottom] with 0 <= top < bottom <= 210"),
    ("model.input_normalization=raw", "model.input_normalization='raw' is not allowed: expected one of scale, standardize"),
    ("algorithm.policy_init_scale=0", "algorithm.policy_init_scale=0.0 is not allowed: expected a number > 0"),
    ("stop_return_episodes=101", "stop_return_episodes=101 is not allowed: expected an integer in [1, 100]"),
])
def test_a_bad_setting_is_explained_in_one_line_naming_the_value_and_the_choices(override, message):
    """In process: the app composes the same config and explains the same error (one command-line run of
    each kind of error below), without a second's start-up per case."""
    with pytest.raises(Exception) as raised:
        load_config([override])
    line, code = explain(raised.value)
    assert code == USAGE_ERROR
    assert line.startswith(message) and "\n" not in line


@pytest.mark.parametrize("override, message", [
    ("threads=0", "threads=0 is not allowed: expected an integer >= 1"),  # the schema's check
    ("game=pongg", "game=pongg is not allowed: expected one of alien, amidar, assault, asterix,"),  # no such config
    ("thread=2", "thread is not a setting (did you mean threads?); settings here: algorithm,"),  # no such key
])
def test_a_bad_setting_fails_with_one_line_before_anything_starts(tmp_path, override, message):
    done = run_app(override, f"hydra.run.dir={tmp_path}")
    assert done.returncode == USAGE_ERROR
    assert done.stderr.splitlines() == [f"asyncbench: error: {message}" + done.stderr.split(message, 1)[1].rstrip()]
    assert not (tmp_path / "run.json").exists()


def test_an_unknown_game_lists_every_game_atari_cartpole_minatar_and_control():
    with pytest.raises(Exception) as raised:
        load_config(["game=pongg"])
    listed = explain(raised.value)[0].split("expected one of ", 1)[1].split(", ")
    assert len(listed) == 57 + 2 + 5 + 9  # Atari, both CartPoles, MinAtar, 7 Control Suite tasks, HalfCheetah, Pendulum
    assert {"cartpole", "cartpole_no_velocities", "pong", "video_pinball", "yars_revenge", "minatar_asterix",
            "minatar_space_invaders", "dmc_cheetah_run", "dmc_walker_walk", "half_cheetah", "pendulum"} <= set(listed)


@pytest.fixture
def start_app(tmp_path):
    """start_app(*overrides) -> (process, worker pids): a long CartPole run in tmp_path, in the background,
    once its workers are training. After the test it is killed if still running, and its pipes closed."""
    started = []

    def start(*overrides):
        process = subprocess.Popen([sys.executable, "-m", "asyncbench", "frames=1000000000", "max_seconds=120",
                                    *overrides, f"hydra.run.dir={tmp_path}"],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                info = json.loads((tmp_path / "run.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                info = {}
            if info.get("status") == "running":
                return process, [worker["pid"] for worker in info["workers"]]
            time.sleep(0.2)
        process.kill()
        raise AssertionError(f"the run did not start: {process.communicate()}")

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


@pytest.mark.slow
def test_a_killed_worker_fails_the_run_with_its_exit_code(tmp_path, start_app):
    process, pids = start_app("threads=2")
    os.kill(pids[1], signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 1
    assert stderr.splitlines()[-1].startswith(f"asyncbench: error: actor-learner 1 (pid {pids[1]}) exited with code -9")
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "failed" and "exited with code -9" in info["error"]
    assert [worker["exit_code"] for worker in info["workers"]] == [0, -9]
    assert not any(alive(pid) for pid in pids)


@pytest.mark.slow
def test_sigterm_stops_every_process_and_records_the_interruption(tmp_path, start_app):
    process, pids = start_app("threads=2")
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130, stderr
    info, _, progress = read_run(tmp_path)
    assert info["status"] == "interrupted" and info["ended_at"]
    assert info["summary"]["frames"] > 0 and progress
    assert not any(alive(pid) for pid in pids)


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["spawn", "forkserver", "fork"])
def test_each_start_method_trains_and_anneals_the_learning_rate(tmp_path, start_method):
    done = run_app(f"start_method={start_method}", "frames=30000", "lr=0.002", *QUICK, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    _, _, progress = assert_complete(tmp_path, threads=2)
    # Linear annealing to 0 over the frame budget (S8): lr = 0.002 * (1 - T / 30000).
    for row in progress:
        assert float(row["lr"]) == pytest.approx(0.002 * max(0.0, 1 - int(row["T"]) / 30000), rel=1e-4, abs=1e-9)


@pytest.mark.slow
def test_the_wall_clock_budget_stops_a_run(tmp_path):
    done = run_app("frames=1000000000", "max_seconds=3", *QUICK, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    info, _, _ = read_run(tmp_path)
    assert info["status"] == "completed"
    assert 3.0 <= info["summary"]["wall_seconds"] < 4.0
    assert info["summary"]["frames"] < 1_000_000_000


@pytest.mark.slow
def test_training_stops_at_the_first_evaluation_that_reaches_the_stop_score(tmp_path):
    done = run_app("frames=1000000000", "max_seconds=120", "evaluation.interval_frames=4000", "evaluation.episodes=3",
                   "evaluation.stop_score=60", "evaluation.final=false", *QUICK, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    info, _, _ = read_run(tmp_path)
    means = {}
    for row in read_csv(tmp_path / "evaluations.csv"):
        means.setdefault(int(row["T"]), []).append(float(row["score"]))
    complete = {T: sum(scores) / len(scores) for T, scores in means.items() if len(scores) == 3}
    reached = info["summary"]["stop_score_reached"]
    assert reached["mean_score"] >= 60 and reached["mean_score"] == pytest.approx(complete[reached["T"]])
    assert all(mean < 60 for T, mean in complete.items() if T < reached["T"])  # the first to reach it
    assert info["status"] == "completed" and info["summary"]["wall_seconds"] < 120  # it, not the budget, ended the run


@pytest.mark.slow
def test_a_killed_worker_is_restarted_while_restarts_are_left(tmp_path, start_app):
    process, pids = start_app("threads=2", "worker_restarts=1", "progress_interval_seconds=0.5")
    killed_at = time.monotonic()
    os.kill(pids[1], signal.SIGKILL)
    while time.monotonic() - killed_at < 20:  # the new worker's pid reaches run.json once it has started
        restarted = json.loads((tmp_path / "run.json").read_text())["workers"][1]
        if restarted["pid"] != pids[1]:
            break
        time.sleep(0.1)
    noticed_seconds = time.monotonic() - killed_at
    restart_T = restarted["restarts"][0]["T"]

    def trains_again():  # the new worker 1 has finished an episode since the restart
        return any(int(row["worker"]) == 1 and int(row["T"]) > restart_T for row in read_csv(tmp_path / "episodes.csv"))

    while not trains_again() and time.monotonic() - killed_at < 60:
        time.sleep(0.2)
    assert trains_again() and noticed_seconds < 5, noticed_seconds
    os.kill(restarted["pid"], signal.SIGKILL)  # no restart left: now the run stops
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 1, stderr
    assert stderr.splitlines()[-1].startswith(f"asyncbench: error: actor-learner 1 (pid {restarted['pid']}) exited with code -9")
    info = json.loads((tmp_path / "run.json").read_text())
    worker = info["workers"][1]
    assert info["status"] == "failed" and worker["exit_code"] == -9 and worker["torch_threads"] == 1
    assert [(death["pid"], death["exit_code"]) for death in worker["restarts"]] == [(pids[1], -9)]
    assert not any(alive(pid) for pid in [*pids, restarted["pid"]])
