"""Launch faults, injected for real: a finished run's directory used again, a key added with `+` that
no schema has, a launcher that cannot launch on this machine. Each ends in one line and keeps what
finished as it was."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_app
from test_sweeps import installed, processes_named, snapshot, wait_for

TINY = ("game=cartpole", "threads=1", "frames=2000", "evaluation.enabled=false")
CHOOSE_ANOTHER = "choose another hydra.run.dir or hydra.sweep.dir, or move that run away"


def results(run_dir):
    """The files a run writes (Hydra rewrites its own .hydra/ files; asyncbench.log is appended to)."""
    return {name: (run_dir / name).read_bytes() for name in ("run.json", "episodes.csv", "progress.csv", "model.pt")}


def asyncbench_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("asyncbench:")]


def where(tmp_path, place):
    """(results directory, resume.root override): the directory inside resume.root, or outside it
    (the default root, runs/ of the checkout, which these runs never look into)."""
    if place == "inside":
        return tmp_path / "root/out", (f"resume.root={tmp_path / 'root'}",)
    return tmp_path / "out", ()


@pytest.mark.slow
@pytest.mark.parametrize("place", ["inside", "outside"])
def test_a_finished_run_is_skipped_and_never_trained_over(tmp_path, place):
    out, root = where(tmp_path, place)
    run = (*TINY, *root, f"hydra.run.dir={out / 'run'}")
    first = run_app(*run)
    assert first.returncode == 0, first.stderr
    finished = results(out / "run")

    again = run_app(*run)
    assert again.returncode == 0, again.stderr
    assert f"skipped: this job completed in {out / 'run'} before" in again.stdout
    assert "run completed" not in again.stdout  # nothing trained

    afresh = run_app(*run, "resume.enabled=false")
    assert afresh.returncode == 2
    assert afresh.stderr.splitlines() == [f"asyncbench: error: {out / 'run'} holds a completed run, which "
                                          f"resume.enabled=false would train over; {CHOOSE_ANOTHER}"]

    other = run_app(*run, "seed=1")
    assert other.returncode == 2
    assert other.stderr.splitlines() == [
        f"asyncbench: error: {out / 'run'} holds a completed run of another config; {CHOOSE_ANOTHER}"]
    assert results(out / "run") == finished


@pytest.mark.slow
def test_a_finished_sweep_is_skipped_and_never_trained_over(tmp_path):
    """Outside resume.root; inside it, test_sweeps' same-directory test skips a completed job of a sweep."""
    out, root = where(tmp_path, "outside")
    sweep = ("-m", "seed=0,1", *TINY, *root, f"hydra.sweep.dir={out}", "hydra.sweep.subdir=seed_${seed}")
    first = run_app(*sweep)
    assert first.returncode == 0, first.stderr
    finished = {seed: results(out / f"seed_{seed}") for seed in (0, 1)}

    again = run_app(*sweep)
    assert again.returncode == 0, again.stderr
    assert asyncbench_lines(again.stderr) == [f"asyncbench: sweep {out}: 2 job(s): 2 completed"]
    for seed in (0, 1):
        assert f"skipped: this job completed in {out / f'seed_{seed}'} before" in again.stdout
    assert "run completed" not in again.stdout

    afresh = run_app(*sweep, "resume.enabled=false")
    assert afresh.returncode == 2
    assert asyncbench_lines(afresh.stderr)[-1] == (f"asyncbench: error: {out / 'seed_0'} holds a completed run, "
                                                   f"which resume.enabled=false would train over; {CHOOSE_ANOTHER}")
    assert "Traceback" not in afresh.stderr
    assert {seed: results(out / f"seed_{seed}") for seed in (0, 1)} == finished


@pytest.mark.slow
def test_an_interrupted_run_outside_the_root_continues_from_its_checkpoint_in_place(tmp_path):
    run_dir = tmp_path / "run"
    run = ("game=cartpole", "threads=1", "evaluation.enabled=false", "frames=1000000000", "max_seconds=5",
           "checkpoint_interval_seconds=1", "progress_interval_seconds=0.5", f"hydra.run.dir={run_dir}")
    first = subprocess.Popen([sys.executable, "-m", "asyncbench", *run], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(run_dir / "run.json", lambda info: info["summary"].get("wall_seconds", 0) >= 2)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=30)
    assert first.returncode == 130, stderr
    interrupted = json.loads((run_dir / "run.json").read_text())
    episodes_before = (run_dir / "episodes.csv").read_text()

    again = run_app(*run, timeout=120)

    assert again.returncode == 0, again.stderr
    resumed = json.loads((run_dir / "run.json").read_text())
    assert resumed["status"] == "completed", resumed["error"]
    assert resumed["resumed_from"] == {"run_dir": str(run_dir), "T": interrupted["checkpoint"]["T"]}
    assert 5.0 <= resumed["summary"]["wall_seconds"] < 6.0  # the budget counts both parts
    episodes_after = (run_dir / "episodes.csv").read_text()
    assert episodes_after.startswith(episodes_before.rsplit("\n", 2)[0]) and len(episodes_after) > len(episodes_before)


@pytest.mark.slow
@pytest.mark.parametrize("added, plain", [
    ("+thread=4", "thread=4"),
    ("+algorithm.betta=0.1", "algorithm.betta=0.1"),
    ("+game.nosuchkey.inner=1", "game.nosuchkey.inner=1"),
])
def test_a_key_added_with_plus_that_no_schema_has_is_refused_as_without_plus(tmp_path, added, plain):
    refused = run_app(added, f"hydra.run.dir={tmp_path / 'added'}")
    expected = run_app(plain, f"hydra.run.dir={tmp_path / 'plain'}")

    assert expected.returncode == refused.returncode == 2
    assert refused.stderr == expected.stderr and len(refused.stderr.splitlines()) == 1
    assert not (tmp_path / "added/run.json").exists()


def test_an_added_key_without_a_near_setting_lists_the_settings(tmp_path):
    refused = run_app("+nosuchkey=1", *TINY, f"hydra.run.dir={tmp_path}")
    assert refused.returncode == 2 and not (tmp_path / "run.json").exists()
    assert refused.stderr.startswith("asyncbench: error: nosuchkey is not a setting; settings here: algorithm, atari,")
    assert len(refused.stderr.splitlines()) == 1


@pytest.mark.slow
def test_an_added_key_fails_each_job_of_a_sweep_before_it_starts(tmp_path):
    done = run_app("-m", "+thread=4", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=seed_${seed}")
    assert done.returncode == 1
    for seed in (0, 1):
        assert json.loads((tmp_path / f"seed_{seed}/run.json").read_text())["status"] == "failed"
        assert not (tmp_path / f"seed_{seed}/episodes.csv").exists()
    assert f"asyncbench:   failed seed_0: thread is not a setting (did you mean threads?); settings here: " \
           "algorithm," in done.stderr


@pytest.mark.slow
def test_hydras_own_plus_keys_and_a_forced_override_still_work(tmp_path):
    done = run_app("+hydra.job.env_set.ASYNCBENCH_PROBE=1", "++threads=1", *TINY[0:1], *TINY[2:],
                   f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "completed" and info["config"]["threads"] == 1
    assert "ASYNCBENCH_PROBE: '1'" in (tmp_path / ".hydra/hydra.yaml").read_text()


def finished_job_then(tmp_path, *launcher, env=None):
    """A sweep of seed=0 finished into tmp_path by Hydra's basic launcher, then seed=0,1 with `launcher`
    into the same directory (in `env`); return the second sweep's process and the finished job's files."""
    sweep = ("-m", *TINY, f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=seed_${seed}")
    first = run_app(*sweep, "seed=0")
    assert first.returncode == 0, first.stderr
    finished = results(tmp_path / "seed_0")
    return run_app(*sweep, "seed=0,1", *launcher, env=env), finished


@pytest.mark.slow
def test_slurm_where_there_is_none_ends_the_sweep_with_one_line_and_keeps_the_finished_job(tmp_path):
    if not installed("hydra_plugins.hydra_submitit_launcher"):
        pytest.skip("hydra-submitit-launcher is not installed (pip install -e '.[launchers]')")
    # A PATH of this Python's directory alone: no srun on it, whether or not this machine has Slurm.
    done, finished = finished_job_then(tmp_path, "hydra/launcher=slurm", env={"PATH": str(Path(sys.executable).parent)})

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"asyncbench: sweep {tmp_path}: 1 job(s): 1 completed",
        'asyncbench: error: hydra/launcher=slurm could not launch the jobs: Could not detect "srun", '
        "are you indeed on a slurm cluster?",
    ]
    assert results(tmp_path / "seed_0") == finished and not (tmp_path / "seed_1").exists()


@pytest.mark.slow
def test_ray_failing_to_start_names_the_setting_and_keeps_the_finished_job(tmp_path):
    if not installed("hydra_plugins.hydra_ray_launcher"):
        pytest.skip("hydra-ray-launcher is not installed (pip install -e '.[launchers]')")
    ray_before = processes_named("raylet", "gcs_server")
    # 1 byte: below the least object store Ray accepts (75 MiB), so ray.init refuses to start.
    done, finished = finished_job_then(tmp_path, "hydra/launcher=ray_local", "hydra.launcher.ray.init.object_store_memory=1")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    summary, error = asyncbench_lines(done.stderr)
    assert summary == f"asyncbench: sweep {tmp_path}: 1 job(s): 1 completed"
    assert error.startswith("asyncbench: error: hydra/launcher=ray_local could not launch the jobs: ")
    assert error.endswith("; check hydra.launcher.ray.init.object_store_memory=1")  # Ray's words: "object store memory"
    assert results(tmp_path / "seed_0") == finished and not (tmp_path / "seed_1").exists()
    deadline = time.monotonic() + 15  # what ray.init started before it refused ends by itself, within seconds
    while processes_named("raylet", "gcs_server") != ray_before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_named("raylet", "gcs_server") == ray_before
