"""The main process of a run: `train` sets the run up, starts the actor-learners and supervises them.

Workers only compute and send records; the main process alone writes the run's files
(`asyncbench.run_log`), watches and restarts its processes (`asyncbench.processes`), and ends
training by the stop rules (`asyncbench.stop_rules`). It never waits on anything without a timeout.
A write that fails (a full disk, a read-only directory) stops the run with one line naming the file,
and leaves every file whole.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from torch.nn.utils import vector_to_parameters

from asyncbench.algorithms import ALGORITHMS
from asyncbench.checkpoint import CHECKPOINT_NAME, Checkpoint, save_torch_atomically
from asyncbench.config import Config
from asyncbench.envs import action_size, make_env
from asyncbench.helper_processes import start_forkserver
from asyncbench.learner import build_network
from asyncbench.messages import Episode, EvaluationEpisode, TargetUpdated, UpdateStats, WorkerFailed, WorkerReady
from asyncbench.processes import Processes, RunFailed
from asyncbench.records import describe_os_error
from asyncbench.run_log import RunLog
from asyncbench.shared import SharedState
from asyncbench.stop_rules import frame_budget_spent, returns_reached, score_reached, time_budget_spent

log = logging.getLogger(__name__)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


def train(config: Config, run_dir: Path, resolved_config: dict[str, Any], overrides: list[str] = (),
          resume_from: Path | None = None, choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `config.threads` actor-learners to the frame or wall-clock budget; return the summary.

    `overrides` (the command line's) and `choices` (Hydra's config group choices: the preset, the
    game, lr_sampling, ...) are recorded in run.json as given.

    With `resume_from` (the directory of an earlier run of the same config that holds a checkpoint),
    continue that run from its checkpoint, writing into `run_dir`.

    Raises:
        RunFailed: a worker died or could not start (run.json says which, with its exit code), or a
            file could not be written (the message names it and why).
        KeyboardInterrupt: Ctrl-C or SIGTERM (run.json says interrupted).
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        context = _multiprocessing_context(config)
        network, shared = _shared_network(config, context)
        checkpoint = None
        if resume_from is not None:
            checkpoint = Checkpoint.load(resume_from / CHECKPOINT_NAME)
            checkpoint.restore(shared)
            log.info("continuing %s from its checkpoint at T %s", resume_from, f"{checkpoint.frames:,}")
        run_log = RunLog(config, run_dir, resolved_config, list(overrides), choices or {}, checkpoint)
        if checkpoint is not None:
            run_log.info["resumed_from"] = {"run_dir": str(resume_from), "T": checkpoint.frames}
        supervisor = Supervisor(config, shared, context, run_log)
        with _sigterm_interrupts():
            try:
                for rank in supervisor.processes.ranks:
                    supervisor.processes.start(rank)
                supervisor.wait_until_ready()
                supervisor.supervise()
                # inside the handlers below: a signal during the final evaluation interrupts the run
                status = supervisor.finish("completed", None)
            except KeyboardInterrupt:
                supervisor.finish_uninterrupted("interrupted", "interrupted by a signal")
                raise
            except RunFailed as failure:
                supervisor.finish_uninterrupted("failed", str(failure))
                raise
            except OSError as error:  # a results file could not be written: a full disk, a read-only directory
                supervisor.finish_uninterrupted("failed", describe_os_error(error))
                raise
            if status != "completed":
                raise RunFailed(run_log.info["error"])
        vector_to_parameters(shared.parameters, network.parameters())
        save_torch_atomically(network.state_dict(), run_dir / "model.pt")
        return run_log.info["summary"]
    except OSError as error:
        raise RunFailed(describe_os_error(error)) from error


def _multiprocessing_context(config: Config) -> Any:
    # Workers start with one OpenMP thread: the variable must be set before they import torch.
    os.environ["OMP_NUM_THREADS"] = "1"
    # Children inherit the global start method as well: under joblib's loky workers it is "loky",
    # which no child can set up ("cannot find context for 'loky'"), so it is set here too.
    mp.set_start_method(config.start_method, force=True)
    if config.start_method == "forkserver":
        start_forkserver()  # unless asyncbench.__main__ has, or an earlier run of this process
    return mp.get_context(config.start_method)


def _shared_network(config: Config, context: Any) -> tuple[torch.nn.Module, SharedState]:
    """The network with its first theta, drawn from the run's seed, and the shared state that holds theta
    from then on; a probe of the game gives the shapes."""
    probe = make_env(config.game, config.atari, seed=config.seed)
    observation_shape, n_actions = probe.observation_space.shape, action_size(probe.action_space)
    probe.close()
    torch.manual_seed(config.seed)
    network = build_network(config, observation_shape, n_actions)
    shared = SharedState.create(context, network, config.optimizer, ALGORITHMS[config.algorithm.name].uses_target_network,
                                workers=config.threads)
    return network, shared


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Meanwhile SIGTERM raises Interrupted, as Ctrl-C raises KeyboardInterrupt (where a handler can be
    set: on the main thread, which some launchers do not run a job on)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted()


class Supervisor:
    """Watches the processes, ends training at its budgets, writes progress, status lines and
    checkpoints on their intervals, and stops the processes."""

    def __init__(self, config: Config, shared: SharedState, context: Any, run_log: RunLog):
        self.config = config
        self.shared = shared
        self.run_log = run_log
        self.records = RecordKeeper(config, shared, run_log)
        self.processes = Processes(config, shared, context, run_log, on_record=self.records.handle)
        self.stopped: tuple[float, int] | None = None  # (time, T) when training stopped

    def wait_until_ready(self) -> None:
        """Wait until every process has set up (the evaluator too: its games take seconds of CPU), then
        start training."""
        while len(self.records.ready) < len(self.processes.ranks):
            self.processes.receive(timeout=0.1)
            self.processes.check()
        started = time.monotonic()
        self.shared.start_time.value = self.run_log.start_clock(started)
        self.shared.start.set()
        self.run_log.mark_running(started)

    def supervise(self) -> None:
        """Until training stops: take the records, watch the processes, apply the budgets, and write
        progress rows, status lines and checkpoints on their intervals."""
        config, run_log = self.config, self.run_log
        started = time.monotonic()
        next_progress = started + config.progress_interval_seconds
        next_status = started + config.status_interval_seconds
        next_checkpoint = started + (config.checkpoint_interval_seconds or float("inf"))
        run_log.progress_from(self.shared.frames.value, started)
        while not self.shared.stop.is_set():
            self.processes.receive(timeout=0.1)
            self.processes.check()
            now, frames = time.monotonic(), self.shared.frames.value
            if (frame_budget_spent(frames, config.frames)
                    or time_budget_spent(now - run_log.start_time, config.max_seconds)):
                self.shared.stop.set()
            if now >= next_progress:
                run_log.write_progress(now, frames)
                next_progress += config.progress_interval_seconds
            if now >= next_status:
                run_log.log_status(now, frames)
                next_status += config.status_interval_seconds
            if now >= next_checkpoint:
                run_log.save_checkpoint(self.shared, now)
                next_checkpoint += config.checkpoint_interval_seconds
        self.stopped = (time.monotonic(), self.shared.frames.value)

    def finish_uninterrupted(self, status: str, error: str | None) -> None:
        """`finish` a run that stops early, ignoring Ctrl-C and SIGTERM meanwhile: a second signal
        (a launcher and a user both stopping the job) would otherwise leave its files half-finished.
        It takes at most `shutdown_grace_seconds` and a few more."""
        if threading.current_thread() is not threading.main_thread():  # only there can signals be set
            self.finish(status, error)
            return
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.finish(status, error)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def finish(self, status: str, error: str | None) -> str:
        """Stop every process, flush every file, write the final run.json; return the final status.

        An interrupted or failed run leaves a checkpoint to continue from; a completed one needs none.
        """
        self.shared.stop.set()
        stopped = self.stopped or (time.monotonic(), self.shared.frames.value)
        failures = self.processes.stop(completed=status == "completed")
        if status == "completed" and failures:  # a worker failed while stopping: say so
            status, error = "failed", "; ".join(failures)
        self.run_log.finish(self.shared, status, error, stopped)
        return status


class RecordKeeper:
    """Turns the records of the processes into the run's log, and ends training early when the recent
    returns or an evaluation reach their targets."""

    def __init__(self, config: Config, shared: SharedState, run_log: RunLog):
        self.config = config
        self.shared = shared
        self.run_log = run_log
        self.ready: set[int] = set()  # the ranks that have said WorkerReady

    def handle(self, record: Any) -> None:
        # A match, not a dict of bound methods, which would refer back to this object: a reference cycle
        # that holds the run's shared memory until the garbage collector runs.
        match record:
            case WorkerReady():
                self.ready.add(record.rank)
                self.run_log.worker_ready(record)
            case Episode():
                self._episode(record)
            case UpdateStats():
                self.run_log.update_stats(record)
            case TargetUpdated():
                self.run_log.target_updated(record)
            case EvaluationEpisode():
                self._evaluation_episode(record)
            case WorkerFailed():
                self.run_log.worker_failed(record)
            case _:
                raise TypeError(f"not a record: {record!r}")

    def _episode(self, record: Episode) -> None:
        self.run_log.episode(record)
        window, target = self.config.stop_return_episodes, self.config.stop_return
        mean_return = returns_reached(self.run_log.totals.recent_returns, window, target)
        if mean_return is not None:
            self._stop_early("stop_return_reached", record.frames, record.wall_seconds, mean_return=round(mean_return, 3),
                             why=f"the last {window} episodes averaged {mean_return:.1f} >= stop_return {target:g} "
                                 f"at T {record.frames:,}")

    def _evaluation_episode(self, record: EvaluationEpisode) -> None:
        scores = self.run_log.evaluation_episode(record)
        target = self.config.evaluation.stop_score
        mean_score = None if record.final else score_reached(scores, self.config.evaluation.episodes, target)
        if mean_score is not None:
            # When it was known: the snapshot's T, and the wall-clock time its evaluation's last episode ended.
            self._stop_early("stop_score_reached", record.frames, record.wall_seconds, mean_score=mean_score,
                             why=f"evaluation at T {record.frames:,} scored {mean_score:.1f} >= evaluation.stop_score {target:g}")

    def _stop_early(self, reason: str, frames: int, wall_seconds: float, why: str, **measured: float) -> None:
        """End training before its budgets, the first time `reason` holds; the summary says why and when."""
        if self.run_log.record_early_stop(reason, frames, wall_seconds, **measured):
            log.info("%s: stopping", why)
            self.shared.stop.set()
