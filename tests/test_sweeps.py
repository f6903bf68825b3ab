"""Sweeps that resume and survive faults: real sweeps, real signals, files on disk."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch

from asyncbench.algorithms import ALGORITHMS
from asyncbench.checkpoint import CHECKPOINT_NAME, Checkpoint
from asyncbench.config import load_config
from asyncbench.envs import make_env
from asyncbench.worker import random_states, set_random_states, worker_seed
from conftest import ROOT, read_csv, run_app
from test_app import alive

QUICK = ("threads=1", "status_interval_seconds=2", "progress_interval_seconds=0.5", "evaluation.enabled=false")


def start_sweep(*overrides):
    return subprocess.Popen([sys.executable, "-m", "asyncbench", "-m", *overrides], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(run_json, condition, timeout=60):
    """Poll `run_json` until `condition(info)` holds; return that info."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = json.loads(run_json.read_text())
            if condition(info):
                return info
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{run_json} never met the condition")


def snapshot(directory):
    """Every file below `directory` with its size and modification time."""
    return {path: (path.stat().st_size, path.stat().st_mtime_ns) for path in directory.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_skipping_what_completed_and_continuing_from_the_checkpoint(tmp_path):
    # Job 0 completes its 20,000 frames in seconds; job 1 would train for 8 s, but SIGTERM stops the
    # sweep 2 s into it. Run again, the same command skips job 0 and continues job 1 from its checkpoint.
    sweep = ("frames=20000,100000000", "max_seconds=8", "checkpoint_interval_seconds=1", *QUICK,
             f"resume.root={tmp_path}", "hydra.sweep.subdir=${hydra.job.num}")
    first = start_sweep(*sweep, f"hydra.sweep.dir={tmp_path / 'first'}")
    wait_for(tmp_path / "first/1/run.json", lambda info: info["summary"].get("wall_seconds", 0) >= 2)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=30)

    assert first.returncode == 130, stderr
    assert "1 completed, 1 interrupted" in stderr and "interrupted 1: interrupted by a signal" in stderr
    interrupted = json.loads((tmp_path / "first/1/run.json").read_text())
    assert interrupted["status"] == "interrupted" and (tmp_path / "first/1/checkpoint.pt").exists()
    checkpoint_T = interrupted["checkpoint"]["T"]
    assert checkpoint_T == interrupted["summary"]["frames"]  # checkpointed as it stopped
    first_files = snapshot(tmp_path / "first")

    second = run_app("-m", *sweep, f"hydra.sweep.dir={tmp_path / 'second'}", timeout=120)

    assert second.returncode == 0, second.stderr
    assert "2 job(s): 1 completed, 1 skipped" in second.stderr
    assert snapshot(tmp_path / "first") == first_files  # nothing finished was rerun, nothing written changed
    skipped = json.loads((tmp_path / "second/0/run.json").read_text())
    assert skipped["status"] == "skipped" and skipped["summary"]["completed_in"] == str(tmp_path / "first/0")
    assert not (tmp_path / "second/0/episodes.csv").exists()
    resumed = json.loads((tmp_path / "second/1/run.json").read_text())
    assert resumed["status"] == "completed", resumed["error"]
    assert resumed["resumed_from"] == {"run_dir": str(tmp_path / "first/1"), "T": checkpoint_T}
    assert 8.0 <= resumed["summary"]["wall_seconds"] < 9.0  # the wall-clock budget counts both parts
    assert not (tmp_path / "second/1/checkpoint.pt").exists()  # a completed run needs none
    # The resumed run's files begin with every row the interrupted one wrote, then go on from there.
    for name in ("episodes.csv", "progress.csv"):
        before, after = (tmp_path / "first/1" / name).read_text(), (tmp_path / "second/1" / name).read_text()
        assert after.startswith(before) and len(after) > len(before)
    progress = read_csv(tmp_path / "second/1/progress.csv")
    assert [int(row["T"]) for row in progress] == sorted(int(row["T"]) for row in progress)
    assert max(int(row["T"]) for row in progress) > checkpoint_T


@pytest.mark.slow
def test_a_failing_job_keeps_the_other_results_and_the_summary_says_why(tmp_path):
    # Job 0's worker is killed; job 1 still runs, and the sweep ends with a summary naming the failure.
    sweep = start_sweep("seed=0,1", "frames=100000000", "max_seconds=3", *QUICK, f"resume.root={tmp_path}",
                        f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=seed_${seed}")
    info = wait_for(tmp_path / "seed_0/run.json", lambda info: info["status"] == "running")
    os.kill(info["workers"][0]["pid"], signal.SIGKILL)
    _, stderr = sweep.communicate(timeout=60)

    assert sweep.returncode == 1
    failed, completed = (json.loads((tmp_path / f"seed_{seed}/run.json").read_text()) for seed in (0, 1))
    assert completed["status"] == "completed" and read_csv(tmp_path / "seed_1/episodes.csv")
    assert failed["status"] == "failed" and failed["workers"][0]["exit_code"] == -9
    summary = [line for line in stderr.splitlines() if line.startswith("asyncbench: ")]
    assert summary[0] == f"asyncbench: sweep {tmp_path}: 2 job(s): 1 completed, 1 failed"
    assert summary[1].startswith(f"asyncbench:   failed seed_0: actor-learner 0 (pid {info['workers'][0]['pid']}) "
                                 "exited with code -9")
    assert summary[-1] == "asyncbench: error: 1 job(s) of the sweep did not complete (listed above)"


@pytest.mark.slow
def test_a_bad_value_in_one_job_fails_only_that_job_and_says_why(tmp_path):
    done = run_app("-m", "threads=0,1", "frames=5000", *QUICK[1:], f"hydra.sweep.dir={tmp_path}",
                   "hydra.sweep.subdir=threads_${threads}", "hydra.sweeper.max_batch_size=1")

    assert done.returncode == 1  # the bad job was in the first batch: the second batch still ran
    assert json.loads((tmp_path / "threads_1/run.json").read_text())["status"] == "completed"
    assert ("asyncbench:   failed threads_0: threads=0 is not allowed: expected an integer >= 1"
            in done.stderr.splitlines())


def installed(module):
    return importlib.util.find_spec(module) is not None


def processes_named(*names):
    """Pids of the running processes whose command name is one of `names`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() in names:
                found.append(int(stat.parent.name))
        except OSError:
            pass
    return found


# The configs of conf/hydra/launcher/ that run here, each with its plugin and the overrides it needs.
LAUNCHERS = [
    pytest.param(("hydra/launcher=local_parallel",), "hydra_plugins.hydra_joblib_launcher", id="joblib"),
    pytest.param(("hydra/launcher=local_submitit", "hydra.sweeper.max_batch_size=2"),
                 "hydra_plugins.hydra_submitit_launcher", id="submitit"),
    pytest.param(("hydra/launcher=ray_local",), "hydra_plugins.hydra_ray_launcher", id="ray"),
]


def skip_unless_installed(plugin):
    if not installed(plugin):
        pytest.skip(f"{plugin} is not installed (pip install -e '.[launchers]')")


@pytest.mark.slow
@pytest.mark.parametrize("launcher, plugin", LAUNCHERS)
def test_each_launcher_config_runs_the_jobs_of_a_sweep_at_once(tmp_path, launcher, plugin):
    skip_unless_installed(plugin)
    ray_before = processes_named("raylet", "gcs_server")
    done = run_app("-m", *launcher, "seed=0,1", "frames=20000", *QUICK,
                   f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=seed_${seed}", timeout=240)

    assert done.returncode == 0, done.stderr
    assert f"asyncbench: sweep {tmp_path}: 2 job(s): 2 completed" in done.stderr
    runs = [json.loads((tmp_path / f"seed_{seed}/run.json").read_text()) for seed in (0, 1)]
    spans = [(datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["ended_at"])) for run in runs]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # 2 cores, 1 worker each: both at once
    for run in runs:
        assert run["status"] == "completed" and run["summary"]["frames"] >= 20000
        # The trainer set its own start method (loky's would fail) and one thread in each worker;
        # parallel jobs leave their workers unpinned rather than pin both to core 0.
        assert [(w["torch_threads"], w["omp_num_threads"], w["exit_code"]) for w in run["workers"]] == [(1, "1", 0)]
        assert run["config"]["pin_workers"] is False and len(run["workers"][0]["cores"]) == len(os.sched_getaffinity(0))
    assert processes_named("raylet", "gcs_server") == ray_before  # a local Ray cluster stops with its sweep


@pytest.mark.slow
@pytest.mark.parametrize("launcher, plugin", LAUNCHERS)
def test_sigterm_on_a_parallel_sweep_stops_every_job_in_its_own_process(tmp_path, launcher, plugin):
    skip_unless_installed(plugin)
    ray_before = processes_named("raylet", "gcs_server")
    sweep = start_sweep(*launcher, "seed=0,1", "frames=100000000", "max_seconds=60", *QUICK,
                        f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=seed_${seed}")
    jobs = [wait_for(tmp_path / f"seed_{seed}/run.json", lambda info: info["status"] == "running") for seed in (0, 1)]
    assert sweep.pid not in {job["pid"] for job in jobs}  # each job in a process of the launcher's
    signalled = time.monotonic()
    sweep.send_signal(signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=60)

    assert sweep.returncode == 130, stderr
    assert time.monotonic() - signalled < 10
    assert "2 job(s): 2 interrupted" in stderr
    for seed, job in zip((0, 1), jobs):
        info = json.loads((tmp_path / f"seed_{seed}/run.json").read_text())
        assert info["status"] == "interrupted" and info["checkpoint"]["T"] == info["summary"]["frames"] > 0
        assert not alive(job["workers"][0]["pid"])
    assert processes_named("raylet", "gcs_server") == ray_before


@pytest.mark.slow
def test_a_checkpoint_holds_each_workers_own_optimizer_statistics(tmp_path):
    # optimizer=rmsprop: each worker has its own g (Figure S5's comparison); both must survive a resume.
    sweep = ("optimizer=rmsprop", "threads=2", "frames=100000000", "max_seconds=4", *QUICK[1:],
             f"resume.root={tmp_path}", "hydra.sweep.subdir=run")
    first = start_sweep(*sweep, f"hydra.sweep.dir={tmp_path / 'first'}")
    wait_for(tmp_path / "first/run/run.json", lambda info: info["summary"].get("wall_seconds", 0) >= 1)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)

    checkpoint = Checkpoint.load(tmp_path / "first/run" / CHECKPOINT_NAME)
    statistics = checkpoint.statistics
    assert statistics.shape[0] == 2 and (statistics > 0).any(dim=1).all()  # one row a worker, both updated
    assert not torch.equal(statistics[0], statistics[1])
    # Each worker's random states too, moved on from where its seed started them.
    assert sorted(checkpoint.worker_random_states) == [0, 1]
    for rank, states in checkpoint.worker_random_states.items():
        torch.manual_seed(worker_seed(0, rank))
        assert states["torch"] != torch.get_rng_state().numpy().tobytes()
    second = run_app("-m", *sweep, f"hydra.sweep.dir={tmp_path / 'second'}")
    assert second.returncode == 0, second.stderr
    resumed = json.loads((tmp_path / "second/run/run.json").read_text())
    assert resumed["status"] == "completed" and resumed["resumed_from"]["run_dir"] == str(tmp_path / "first/run")
    assert all(worker["continues_random_states"] for worker in resumed["workers"])
    fresh = json.loads((tmp_path / "first/run/run.json").read_text())
    assert not any(worker["continues_random_states"] for worker in fresh["workers"])


def test_a_workers_random_states_carry_its_streams_into_a_new_process():
    """What a checkpoint holds of a worker puts torch's, the environment's and the method's own random
    streams where they were: the next draws are the ones the first worker would have made."""
    config = load_config(["algorithm=onestep_q"])

    def worker_parts():
        env = make_env(config.game, config.atari, seed=7)
        return ALGORITHMS["onestep_q"](config.algorithm, config.gamma, seed=7), env

    def next_draws(method, env):
        return torch.rand(3).tolist(), env.np_random.random(3).tolist(), [method.rng.random() for _ in range(3)]

    method, env = worker_parts()
    next_draws(method, env)  # the streams move on
    states = random_states(method, env)
    expected = next_draws(method, env)

    method, env = worker_parts()  # a new worker, seeded as the first was
    set_random_states(states, method, env)
    assert next_draws(method, env) == expected


def test_runs_made_before_a_setting_with_a_null_default_existed_are_the_same_runs():
    from asyncbench.resume import run_identity

    before = {"lr": 7e-4, "algorithm": {"name": "a3c", "beta": 0.01}}
    now = {"lr": 7e-4, "algorithm": {"name": "a3c", "beta": 0.01, "policy_init_scale": None},
           "resume": {"enabled": True, "root": "elsewhere"}}  # an operational setting: left out too
    assert run_identity(now) == run_identity(before)
    assert now["algorithm"]["policy_init_scale"] is None and "resume" in now  # the argument is left as it was
    scaled = {**now, "algorithm": {**now["algorithm"], "policy_init_scale": 0.01}}
    assert run_identity(scaled) != run_identity(before)


@pytest.mark.slow
def test_the_same_sweep_directory_again_keeps_what_completed_and_continues_in_place(tmp_path):
    """With a fixed hydra.sweep.dir the jobs' directories are the earlier runs' own: a completed run is
    left as it is (not rerun, not overwritten), an interrupted one continues from its checkpoint there."""
    sweep = ("frames=20000,100000000", "max_seconds=6", "checkpoint_interval_seconds=1", *QUICK,
             f"resume.root={tmp_path}", "hydra.sweep.subdir=${hydra.job.num}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    first = start_sweep(*sweep)
    wait_for(tmp_path / "sweep/1/run.json", lambda info: info["summary"].get("wall_seconds", 0) >= 2)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    results = ("run.json", "episodes.csv", "progress.csv", "model.pt")  # Hydra rewrites its own .hydra/ files
    completed = {name: (tmp_path / "sweep/0" / name).stat().st_mtime_ns for name in results}
    episodes_before = (tmp_path / "sweep/1/episodes.csv").read_text()
    checkpoint_T = json.loads((tmp_path / "sweep/1/run.json").read_text())["checkpoint"]["T"]

    again = run_app("-m", *sweep, timeout=120)

    assert again.returncode == 0, again.stderr
    assert {name: (tmp_path / "sweep/0" / name).stat().st_mtime_ns for name in results} == completed
    resumed = json.loads((tmp_path / "sweep/1/run.json").read_text())
    assert resumed["status"] == "completed", resumed["error"]
    assert resumed["resumed_from"] == {"run_dir": str(tmp_path / "sweep/1"), "T": checkpoint_T}
    assert resumed["summary"]["startup_seconds"] > 0
    episodes_after = (tmp_path / "sweep/1/episodes.csv").read_text()
    assert episodes_after.startswith(episodes_before.rsplit("\n", 2)[0]) and len(episodes_after) > len(episodes_before)


@pytest.mark.slow
def test_a_directory_holding_a_run_of_another_config_is_refused_and_left_as_it_was(tmp_path):
    """A fixed run or sweep directory used again after the config changed: the new job must not train
    over the run already there, neither as a single run nor as a job of a sweep."""
    run_dir = tmp_path / "sweep/0"
    first = run_app("frames=20000", *QUICK, f"hydra.run.dir={run_dir}", f"resume.root={tmp_path}", timeout=120)
    assert first.returncode == 0, first.stderr
    results = ("run.json", "episodes.csv", "progress.csv", "model.pt")
    before = {name: (run_dir / name).read_bytes() for name in results}
    refusal = (f"asyncbench: error: {run_dir} holds a completed run of another config; "
               "choose another hydra.run.dir or hydra.sweep.dir, or move that run away")

    single = run_app("frames=20000", "seed=1", *QUICK, f"hydra.run.dir={run_dir}", f"resume.root={tmp_path}")
    sweep = run_app("-m", "frames=20000", "seed=1", *QUICK, f"hydra.sweep.dir={tmp_path / 'sweep'}",
                    "hydra.sweep.subdir=${hydra.job.num}", f"resume.root={tmp_path}")

    for refused in (single, sweep):
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip().splitlines()[-1] == refusal
    assert {name: (run_dir / name).read_bytes() for name in results} == before
