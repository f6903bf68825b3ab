"""A process of a run dies, for real: a worker's kind (the evaluator), or one that multiprocessing
started (the forkserver, the resource tracker), or the main process itself (SIGTERM, SIGKILL). Each
run ends with one line naming what died, no traceback, and no process of the run left running once
the main process has exited."""

import contextlib
import gc
import json
import signal
import subprocess
import sys
import time
import weakref

import psutil
import pytest
import torch.multiprocessing as mp

from asyncbench.config import load_config
from asyncbench.run_log import RunLog
from asyncbench.trainer import Supervisor, _shared_network
from conftest import ROOT


def running(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Run:
    """A CartPole run of one actor-learner and an idle evaluator in the background, its output in files."""

    def __init__(self, run_dir, max_seconds=60, final_episodes=1):
        self.run_dir = run_dir
        self.processes = []
        self.stdout, self.stderr = run_dir.parent / "stdout", run_dir.parent / "stderr"
        with open(self.stdout, "w") as stdout, open(self.stderr, "w") as stderr:
            self.main = subprocess.Popen(
                [sys.executable, "-m", "asyncbench", "threads=1", "frames=1000000000", f"max_seconds={max_seconds}",
                 "evaluation.interval_frames=1000000000", f"evaluation.episodes={final_episodes}", f"hydra.run.dir={run_dir}"],
                cwd=ROOT, stdout=stdout, stderr=stderr)

    def wait_until_training(self):
        """Wait until the run trains; return run.json and every process of the run but the main one."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self.main.poll() is None:
            try:
                info = json.loads((self.run_dir / "run.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                info = {}
            if info.get("status") == "running":
                self.processes = psutil.Process(self.main.pid).children(recursive=True)
                return info, self.processes
            time.sleep(0.2)
        raise AssertionError(f"the run did not start: {self.stderr.read_text()}")

    def end(self, timeout=60):
        """Wait for the main process to exit; return its exit code, its stderr lines and run.json."""
        code = self.main.wait(timeout=timeout)
        return code, self.stderr.read_text().splitlines(), json.loads((self.run_dir / "run.json").read_text())


@pytest.fixture
def run(tmp_path):
    started = Run(tmp_path / "run")
    yield started
    if started.main.poll() is None:
        started.main.kill()
        started.main.wait()
    for process in started.processes:  # what a failed test left running
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def helper(processes, module):
    """The process that runs `module`'s main: multiprocessing.forkserver, multiprocessing.resource_tracker."""
    found = [process for process in processes if f"from {module} import main" in " ".join(process.cmdline())
             and process.ppid() not in {other.pid for other in processes}]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["forkserver", "resource tracker", "evaluator"])
def test_a_killed_process_fails_the_run_naming_it_and_none_outlives_the_main_process(run, victim):
    info, processes = run.wait_until_training()
    if victim == "evaluator":
        killed = psutil.Process(info["evaluator"]["pid"])
    else:
        killed = helper(processes, "multiprocessing." + victim.replace(" ", "_"))
    killed.send_signal(signal.SIGKILL)
    code, stderr, info = run.end()

    name = victim if victim == "evaluator" else f"the {victim}"
    error = f"{name} (pid {killed.pid}) exited with code -9; see {run.run_dir / 'run.json'}"
    assert (code, stderr) == (1, [f"asyncbench: error: {error}"])
    assert info["status"] == "failed" and info["error"] == error
    assert not [process for process in processes if running(process)]
    if victim == "forkserver":  # the exit codes it would have reported are unknown
        assert info["workers"][0]["exit_code"] is None and info["evaluator"]["exit_code"] is None


@pytest.mark.slow
def test_sigterm_ends_every_process_before_the_main_process_exits(run):
    _, processes = run.wait_until_training()
    run.main.send_signal(signal.SIGTERM)
    code, stderr, info = run.end()

    assert (code, stderr) == (130, ["asyncbench: interrupted"])
    assert info["status"] == "interrupted"
    assert not [process for process in processes if running(process)]


@pytest.mark.slow
def test_sigterm_during_the_final_evaluation_leaves_the_run_interrupted_with_a_checkpoint(tmp_path):
    run = Run(tmp_path / "run", max_seconds=2, final_episodes=100000)  # the final evaluation outlasts the test
    try:
        _, processes = run.wait_until_training()
        deadline = time.monotonic() + 60
        while ",True" not in _text(run.run_dir / "evaluations.csv") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ",True" in _text(run.run_dir / "evaluations.csv"), "the final evaluation did not start"
        run.main.send_signal(signal.SIGTERM)
        code, stderr, info = run.end()
    finally:
        run.main.kill()

    assert (code, stderr) == (130, ["asyncbench: interrupted"])
    assert info["status"] == "interrupted" and info["ended_at"] is not None
    assert (run.run_dir / "checkpoint.pt").exists()  # to continue from, the final evaluation included
    assert not [process for process in processes if running(process)]


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


@pytest.mark.slow
def test_no_process_outlives_a_killed_main_process(run):
    # Neither the idle evaluator (it sends nothing, so no broken pipe tells it) nor the forkserver,
    # which every process it forked kept alive, nor the resource tracker.
    _, processes = run.wait_until_training()
    run.main.send_signal(signal.SIGKILL)
    run.main.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(running(process) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert not [process for process in processes if running(process)]
    assert "Traceback" not in run.stderr.read_text()


def test_a_supervisor_is_freed_without_the_garbage_collector(tmp_path):
    # Freed by reference counting, a run's shared memory goes when `train` returns: a sweep's jobs under
    # the basic launcher train one after another in one process.
    config = load_config(["game=cartpole", "threads=1"])
    context = mp.get_context("fork")  # its semaphores need no resource tracker in the test's process
    _, shared = _shared_network(config, context)
    supervisor = Supervisor(config, shared, context, RunLog(config, tmp_path, {}, [], {}))
    supervisor.finish("completed", None)  # no process started: it closes the run's files
    freed = weakref.ref(supervisor)
    gc.disable()
    try:
        del supervisor
        assert freed() is None
    finally:
        gc.enable()
