"""Sweeps sent to a real Slurm cluster (tests/slurm_cluster.py: one node, this machine): jobs run to
completion and resume, `scancel` leaves a job interrupted and resumable, jobs sharing the node's cores
are not pinned onto the same one, and a refused submission ends in one line."""

import json
import os
import subprocess
import sys

import pytest

from asyncbench.worker import cores_not_all_this_jobs
from conftest import ROOT, run_app
from slurm_cluster import PARTITION, slurm_cluster  # noqa: F401 (the fixture)
from test_launch_faults import TINY, asyncbench_lines, results
from test_sweeps import wait_for

SLURM = ("hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}")
FITS = ("hydra.launcher.mem_gb=1",)  # the launcher's default, 16, is more than the test node's 4 GB


def sweep_on(sweep_dir, *overrides, seeds="0,1"):
    return ("-m", *SLURM, *overrides, f"seed={seeds}", f"hydra.sweep.dir={sweep_dir}",
            "hydra.sweep.subdir=seed_${seed}", f"resume.root={sweep_dir}")


@pytest.mark.parametrize("usable, environ, reason", [
    (2, {}, None),  # not a Slurm job: its cores are its own
    (2, {"SLURM_CPUS_ON_NODE": "2"}, None),  # given the whole node
    (1, {"SLURM_CPUS_ON_NODE": "1"}, None),  # bound to the core it was given (task/affinity, task/cgroup)
    (4, {"SLURM_CPUS_ON_NODE": "8"}, None),  # bound to 4 of the 8 it was given (one of several tasks)
    (2, {"SLURM_CPUS_ON_NODE": "1"}, "this Slurm job was given 1 of the 2 cores it may use, and which ones is not known"),
])
def test_a_slurm_job_pins_its_workers_only_where_it_sees_no_more_cores_than_it_was_given(usable, environ, reason):
    assert cores_not_all_this_jobs(usable, environ) == reason


@pytest.fixture(scope="module")
def finished_sweep(slurm_cluster, tmp_path_factory):
    """A sweep of 2 jobs (seed=0,1) sent to the cluster: its directory and the finished process."""
    sweep_dir = tmp_path_factory.mktemp("sweep")
    return sweep_dir, run_app(*sweep_on(sweep_dir, *FITS, *TINY), env=slurm_cluster.env)


def job_results(sweep_dir):
    return {seed: results(sweep_dir / f"seed_{seed}") for seed in (0, 1)}


@pytest.mark.slow
def test_a_sweep_on_slurm_completes_its_jobs_without_pinning_them_onto_one_core(slurm_cluster, finished_sweep):
    if slurm_cluster.cores < 2:
        pytest.skip("two jobs side by side need two cores")
    sweep_dir, done = finished_sweep

    assert done.returncode == 0, done.stderr
    assert asyncbench_lines(done.stderr) == [f"asyncbench: sweep {sweep_dir}: 2 job(s): 2 completed"]
    for seed in (0, 1):
        job_dir = sweep_dir / f"seed_{seed}"
        info = json.loads((job_dir / "run.json").read_text())
        assert info["status"] == "completed" and info["error"] is None
        assert info["summary"]["frames"] >= 2000 and info["config"]["seed"] == seed
        assert info["host"]["usable_cores"] == slurm_cluster.cores and info["git"]["commit"]
        # Each job was given 1 of the node's cores, which Slurm did not bind it to: pinning worker 0
        # to the first usable core would have put both jobs' workers on core 0.
        assert info["config"]["pin_workers"] is False
        assert info["workers"][0]["cores"] == list(range(slurm_cluster.cores))
        assert "pin_workers=false: this Slurm job was given 1 of the" in (job_dir / "asyncbench.log").read_text()


@pytest.mark.slow
def test_the_same_sweep_sent_again_skips_the_jobs_that_completed(slurm_cluster, finished_sweep):
    sweep_dir, _ = finished_sweep
    finished = job_results(sweep_dir)

    again = run_app(*sweep_on(sweep_dir, *FITS, *TINY), env=slurm_cluster.env)

    assert again.returncode == 0, again.stderr
    assert asyncbench_lines(again.stderr) == [f"asyncbench: sweep {sweep_dir}: 2 job(s): 2 completed"]
    for seed in (0, 1):
        assert "skipped: this job completed in" in (sweep_dir / f"seed_{seed}/asyncbench.log").read_text()
    assert job_results(sweep_dir) == finished


@pytest.mark.slow
def test_scancel_leaves_a_job_interrupted_and_the_same_command_continues_it_from_its_checkpoint(slurm_cluster, tmp_path):
    sweep = sweep_on(tmp_path, *FITS, "game=cartpole", "threads=1", "evaluation.enabled=false",
                     "frames=1000000000", "max_seconds=6", "checkpoint_interval_seconds=1", seeds="0")
    job_dir = tmp_path / "seed_0"
    first = subprocess.Popen([sys.executable, "-m", "asyncbench", *sweep], cwd=ROOT, env={**os.environ, **slurm_cluster.env},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(job_dir / "run.json", lambda info: info["summary"].get("wall_seconds", 0) >= 2, timeout=120)
    (running,) = slurm_cluster.command("squeue", "--noheader", "--format=%i").split()
    slurm_cluster.command("scancel", running)
    _, stderr = first.communicate(timeout=60)

    assert first.returncode == 1, stderr
    assert asyncbench_lines(stderr) == [
        f"asyncbench: sweep {tmp_path}: 1 job(s): 1 interrupted",
        "asyncbench:   interrupted seed_0: interrupted by a signal",
        "asyncbench:   run the same command again to rerun or continue these; completed jobs are skipped",
        "asyncbench: error: 1 job(s) of the sweep did not complete (listed above)",
    ]
    interrupted = json.loads((job_dir / "run.json").read_text())
    assert interrupted["status"] == "interrupted" and interrupted["checkpoint"]["T"] > 0

    again = run_app(*sweep, env=slurm_cluster.env)

    assert again.returncode == 0, again.stderr
    resumed = json.loads((job_dir / "run.json").read_text())
    assert resumed["status"] == "completed", resumed["error"]
    assert resumed["resumed_from"] == {"run_dir": str(job_dir), "T": interrupted["checkpoint"]["T"]}
    assert 6.0 <= resumed["summary"]["wall_seconds"] < 7.0  # the budget counts both parts


@pytest.mark.slow
def test_a_refused_submission_ends_in_one_line_naming_the_setting_and_keeps_the_finished_jobs(slurm_cluster, finished_sweep):
    sweep_dir, _ = finished_sweep
    finished = job_results(sweep_dir)

    # The launcher's default mem_gb (16) is more than the node's memory: sbatch refuses every job.
    done = run_app(*sweep_on(sweep_dir, *TINY), env=slurm_cluster.env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert asyncbench_lines(done.stderr) == [
        f"asyncbench: sweep {sweep_dir}: 2 job(s): 2 completed",
        "asyncbench: error: hydra/launcher=slurm could not launch the jobs: sbatch: error: Memory specification "
        "can not be satisfied; check hydra.launcher.mem_gb=16",
    ]
    assert job_results(sweep_dir) == finished
    assert slurm_cluster.command("squeue", "--noheader") == ""
