"""The main process of a run: start the actor-learners, supervise them, and write the run's files.

Workers only compute and send records; this process alone writes `episodes.csv`, `progress.csv`,
`run.json`, `checkpoint.pt` and `model.pt` in the run directory. It notices a dead worker within a
fraction of a second and either starts it again (`worker_restarts`) or stops the others; it never
waits on anything without a timeout. A write that fails (a full disk, a read-only directory) stops
the run with one line naming the file, and leaves every file whole.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from torch.nn.utils import vector_to_parameters

from asyncbench import provenance
from asyncbench.algorithms import ALGORITHMS
from asyncbench.checkpoint import CHECKPOINT_NAME, Checkpoint, save_torch_atomically
from asyncbench.config import RECENT_EPISODES, Config
from asyncbench.envs import make_env
from asyncbench.evaluator import EVALUATOR_RANK, EvaluationEpisode, run_evaluator
from asyncbench.records import (
    EPISODE_COLUMNS,
    EVALUATION_COLUMNS,
    PROGRESS_COLUMNS,
    CsvLog,
    describe_os_error,
    write_json_atomically,
)
from asyncbench.shared import SharedState
from asyncbench.worker import (
    Episode,
    TargetUpdated,
    UpdateStats,
    WorkerFailed,
    WorkerReady,
    annealed_lr,
    build_network,
    run_actor_learner,
)

log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """The run could not finish; the message is one line naming what failed."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


class Inbox:
    """The records of the actor-learners and the evaluator, each process on a pipe of its own.

    One queue for all would share a lock and a byte stream between them: a worker killed while writing
    (SIGKILL) leaves the lock held or half a record in the stream, and then nothing more arrives from
    anyone, the worker started in its place included. A dead process's own pipe just ends.
    """

    def __init__(self, context: Any):
        self.context = context
        self.readers: list[Connection] = []

    def open(self) -> Connection:
        """A new pipe; returns the end to write to, for one process. Close it here once that process
        has started: then the pipe ends (EOFError) when the process exits, and no process started
        later (forked) holds a copy that would keep it open."""
        reader, writer = self.context.Pipe(duplex=False)
        self.readers.append(reader)
        return writer

    def receive(self, timeout: float) -> list[Any]:
        """Every record waiting, after up to `timeout` seconds for the first."""
        records = []
        ready = wait(self.readers, timeout)
        while ready:
            for reader in ready:
                try:
                    records.append(reader.recv())
                except EOFError:  # its process has exited and all it sent whole has been read
                    self._drop(reader)
                except (OSError, pickle.UnpicklingError) as broken:
                    log.warning("a record was lost: %s", broken)
                    self._drop(reader)
            ready = wait(self.readers, 0)
        return records

    def _drop(self, reader: Connection) -> None:
        self.readers.remove(reader)
        reader.close()

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.readers = []


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
        return _train(config, run_dir, resolved_config, overrides, resume_from, choices or {})
    except OSError as error:
        raise RunFailed(describe_os_error(error)) from error


def _train(config: Config, run_dir: Path, resolved_config: dict[str, Any], overrides: list[str],
           resume_from: Path | None, choices: dict[str, str]) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    # Workers start with one OpenMP thread: the variable must be set before they import torch.
    os.environ["OMP_NUM_THREADS"] = "1"
    # Children inherit the global start method as well: under joblib's loky workers it is "loky",
    # which no child can set up ("cannot find context for 'loky'"), so it is set here too.
    mp.set_start_method(config.start_method, force=True)
    context = mp.get_context(config.start_method)

    probe = make_env(config.game, config.atari, seed=config.seed)
    observation_shape, n_actions = probe.observation_space.shape, int(probe.action_space.n)
    probe.close()
    torch.manual_seed(config.seed)
    network = build_network(config, observation_shape, n_actions)
    shared = SharedState.create(context, network, config.optimizer, ALGORITHMS[config.algorithm.name].uses_target_network,
                                workers=config.threads)
    checkpoint = None
    if resume_from is not None:
        checkpoint = Checkpoint.load(resume_from / CHECKPOINT_NAME)
        checkpoint.restore(shared)
        log.info("continuing %s from its checkpoint at T %s", resume_from, f"{checkpoint.frames:,}")

    supervisor = Supervisor(config, run_dir, shared, context, resolved_config, list(overrides), choices, checkpoint)
    if checkpoint is not None:
        supervisor.info["resumed_from"] = {"run_dir": str(resume_from), "T": checkpoint.frames}
    on_main_thread = threading.current_thread() is threading.main_thread()  # not so under some launchers
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupted) if on_main_thread else None
    try:
        summary = supervisor.run()
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)
    vector_to_parameters(shared.parameters, network.parameters())
    save_torch_atomically(network.state_dict(), run_dir / "model.pt")
    return summary


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted()


class Supervisor:
    """Starts the workers, turns their records into files and status lines, and stops them."""

    def __init__(self, config: Config, run_dir: Path, shared: SharedState, context: Any,
                 resolved_config: dict[str, Any], overrides: list[str], choices: dict[str, str],
                 checkpoint: Checkpoint | None = None):
        self.config = config
        self.run_dir = run_dir
        self.shared = shared
        self.context = context
        self.inbox = Inbox(context)
        self.stat_names = ALGORITHMS[config.algorithm.name].stat_names
        # Each worker's latest random states: a checkpoint holds them, a resumed or restarted worker goes on from them.
        self.worker_random_states: dict[int, dict[str, Any]] = dict(checkpoint.worker_random_states) if checkpoint else {}
        self.restarts_left = config.worker_restarts
        self.ranks = [*range(config.threads), *([EVALUATOR_RANK] if config.evaluation.enabled else [])]
        self.processes: dict[int, Any] = {}  # the started ones, by rank; the evaluator's is EVALUATOR_RANK
        self.worker_info: dict[int, dict[str, Any]] = {rank: {"rank": rank} for rank in [*self.ranks, EVALUATOR_RANK]}
        earlier = checkpoint.results if checkpoint else {}
        self.episodes_log = CsvLog(run_dir / "episodes.csv", EPISODE_COLUMNS, earlier.get("episodes.csv"))
        self.evaluations_log = CsvLog(run_dir / "evaluations.csv", EVALUATION_COLUMNS, earlier.get("evaluations.csv"))
        self.evaluation_scores: dict[tuple[int, bool], list[float]] = {}  # (T, final) -> scores
        self.progress_log = CsvLog(run_dir / "progress.csv", PROGRESS_COLUMNS + self.stat_names,
                                   earlier.get("progress.csv"))
        self.csv_logs = (self.episodes_log, self.progress_log, self.evaluations_log)
        self.recent_returns: deque[float] = deque(maxlen=RECENT_EPISODES)
        self.episodes = 0
        self.updates = 0
        self.stat_sums = dict.fromkeys(self.stat_names, 0.0)
        self.stat_updates = 0
        self.stopped: tuple[float, int] | None = None  # (time, T) when the budget was reached
        self.info: dict[str, Any] = {
            "status": "starting",
            "config": resolved_config,
            "overrides": overrides,
            "choices": choices,
            "seed": config.seed,
            "pid": os.getpid(),  # the main process: a sweep stopped by SIGTERM passes it on to this pid
            "versions": provenance.versions(),
            "git": provenance.git_state(),
            "host": provenance.host(),
            "started_at": provenance.now_iso(),
            "ended_at": None,
            "workers": [self.worker_info[rank] for rank in range(config.threads)],
            "evaluator": self.worker_info[EVALUATOR_RANK] if config.evaluation.enabled else None,
            "summary": {},
            "target_updates": [],  # T at each theta- <- theta (value-based methods)
            "error": None,
        }
        self.trained_before = 0.0  # seconds of training before the checkpoint this run continues from
        if checkpoint is not None:
            self._restore_totals(checkpoint)
        self.launched = time.monotonic()
        self.start_time = self.launched
        self.last_row: tuple[int, float] = (0, self.launched)  # (T, time) of the last progress row
        self._write_info()

    def _start(self, rank: int) -> None:
        """Start actor-learner `rank`, or the evaluator, sending its records on a new pipe."""
        records = self.inbox.open()
        if rank == EVALUATOR_RANK:
            process = self.context.Process(target=run_evaluator, name="evaluator", daemon=True,
                                           args=(self.config, self.shared, records))
        else:
            process = self.context.Process(target=run_actor_learner, name=f"actor-learner-{rank}", daemon=True,
                                           args=(rank, self.config, self.shared, records,
                                                 self.worker_random_states.get(rank)))
        process.start()
        records.close()
        self.processes[rank] = process
        self.worker_info[rank].update(pid=process.pid, exit_code=None)

    # ---- the run, start to end ---------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        try:
            for rank in self.ranks:
                self._start(rank)
            self._wait_until_ready()
            self._train()
        except KeyboardInterrupt:
            self._finish_uninterrupted("interrupted", "interrupted by a signal")
            raise
        except RunFailed as failure:
            self._finish_uninterrupted("failed", str(failure))
            raise
        except OSError as error:  # a results file could not be written: a full disk, a read-only directory
            self._finish_uninterrupted("failed", describe_os_error(error))
            raise
        if self._finish("completed", None) != "completed":
            raise RunFailed(self.info["error"])
        return self.info["summary"]

    def _wait_until_ready(self) -> None:
        ready: set[int] = set()
        while len(ready) < len(self.ranks):  # the evaluator too: setting up its games takes seconds of CPU
            for record in self._drain(timeout=0.1):
                if isinstance(record, WorkerReady):
                    ready.add(record.rank)
            self._check_workers()
        started = time.monotonic()
        self.start_time = started - self.trained_before  # a resumed run's clock goes on
        self.shared.start_time.value = self.start_time
        self.shared.start.set()
        self.info["status"] = "running"
        self.info["summary"]["startup_seconds"] = round(started - self.launched, 3)
        self._write_info()
        log.info("%d actor-learner(s) started in %.1f s; run directory %s",
                 self.config.threads, started - self.launched, self.run_dir)

    def _train(self) -> None:
        config = self.config
        started = time.monotonic()
        next_progress = started + config.progress_interval_seconds
        next_status = started + config.status_interval_seconds
        next_checkpoint = started + (config.checkpoint_interval_seconds or float("inf"))
        self.last_row = (self.shared.frames.value, started)
        while not self.shared.stop.is_set():
            self._drain(timeout=0.1)
            self._check_workers()
            now, frames = time.monotonic(), self.shared.frames.value
            if frames >= config.frames or (config.max_seconds and now - self.start_time >= config.max_seconds):
                self.shared.stop.set()
            if now >= next_progress:
                self._write_progress(now, frames)
                next_progress += config.progress_interval_seconds
            if now >= next_status:
                self._log_status(now, frames)
                next_status += config.status_interval_seconds
            if now >= next_checkpoint:
                self._save_checkpoint(now)
                next_checkpoint += config.checkpoint_interval_seconds
        self.stopped = (time.monotonic(), self.shared.frames.value)

    # ---- records and workers -----------------------------------------------------------------
    def _drain(self, timeout: float) -> list[Any]:
        """Take every record waiting (up to `timeout` for the first) and act on it."""
        taken = self.inbox.receive(timeout)
        for record in taken:
            self._handle(record)
        return taken

    def _handle(self, record: Any) -> None:
        if isinstance(record, Episode):
            self.episodes += 1
            self.recent_returns.append(record.episode_return)
            self.episodes_log.write({"T": record.frames, "wall_seconds": record.wall_seconds, "worker": record.rank,
                                     "return": record.episode_return, "length": record.length})
            self._stop_if_returns_reached(record)
        elif isinstance(record, UpdateStats):
            self.updates += record.updates
            self.stat_updates += record.updates
            for name, value in record.sums.items():
                self.stat_sums[name] += value
            self.worker_info[record.rank].update(record.details)
            self.worker_random_states[record.rank] = record.random_states
        elif isinstance(record, TargetUpdated):
            self.info["target_updates"].append(record.frames)
        elif isinstance(record, EvaluationEpisode):
            scores = self.evaluation_scores.setdefault((record.frames, record.final), [])
            scores.append(record.score)
            self.evaluations_log.write({"T": record.frames, "wall_seconds": record.wall_seconds, "episode": record.episode,
                                        "score": record.score, "length": record.length, "final": record.final})
            if not record.final and len(scores) == self.config.evaluation.episodes:
                self._stop_if_solved(record, sum(scores) / len(scores))
        elif isinstance(record, WorkerReady):
            self.worker_info[record.rank].update(pid=record.pid, torch_threads=record.torch_threads,
                                                 omp_num_threads=record.omp_num_threads, cores=record.cores,
                                                 continues_random_states=record.continues_random_states)
        elif isinstance(record, WorkerFailed):
            self.worker_info[record.rank]["error"] = record.error
            log.error("%s failed:\n%s", _name(record.rank), record.error)

    def _stop_if_solved(self, record: EvaluationEpisode, mean_score: float) -> None:
        """End training once a periodic evaluation's mean score reaches `evaluation.stop_score`."""
        target = self.config.evaluation.stop_score
        if target is not None and mean_score >= target:
            # When it was known: the snapshot's T, and the wall-clock time its evaluation's last episode ended.
            self._stop_early("stop_score_reached", record.frames, record.wall_seconds, mean_score=mean_score,
                             why=f"evaluation at T {record.frames:,} scored {mean_score:.1f} >= evaluation.stop_score {target:g}")

    def _stop_if_returns_reached(self, record: Episode) -> None:
        """End training once the mean return of the last `stop_return_episodes` training episodes reaches
        `stop_return`."""
        target, window = self.config.stop_return, self.config.stop_return_episodes
        if target is None or len(self.recent_returns) < window:
            return
        mean_return = sum(list(self.recent_returns)[-window:]) / window
        if mean_return >= target:
            self._stop_early("stop_return_reached", record.frames, record.wall_seconds, mean_return=round(mean_return, 3),
                             why=f"the last {window} episodes averaged {mean_return:.1f} >= stop_return {target:g} "
                                 f"at T {record.frames:,}")

    def _stop_early(self, reason: str, frames: int, wall_seconds: float, why: str, **measured: float) -> None:
        """Record in the summary why and when (T, wall-clock) training ends before its budgets, the first time."""
        if reason in self.info["summary"]:
            return
        self.info["summary"][reason] = {"T": frames, "wall_seconds": round(wall_seconds, 3), **measured}
        log.info("%s: stopping", why)
        self.shared.stop.set()

    def _check_workers(self) -> None:
        """Restart an actor-learner that has exited before the run was told to stop, while restarts are
        left (`worker_restarts`); otherwise, or for the evaluator, raise RunFailed."""
        for rank, process in list(self.processes.items()):
            if process.exitcode is not None and not self.shared.stop.is_set():
                self._drain(timeout=0.2)  # its last words, if it managed to send them
                self.worker_info[rank]["exit_code"] = process.exitcode
                error = self.worker_info[rank].pop("error", "").strip().splitlines()
                death = f"{_name(rank)} (pid {process.pid}) exited with code {process.exitcode}" + (
                    f": {error[-1]}" if error else "")
                if rank == EVALUATOR_RANK or self.restarts_left == 0:
                    raise RunFailed(f"{death}; see {self.run_dir / 'run.json'}")
                self._restart(rank, death)

    def _restart(self, rank: int, death: str) -> None:
        """Start actor-learner `rank` again; its death goes to run.json (`workers[rank].restarts`)."""
        # A worker killed inside `SharedState.add_frames` leaves the lock of T held for ever, and the
        # others would hang on it: then the run cannot go on.
        lock = self.shared.frames_lock
        if not lock.acquire(timeout=1.0):
            raise RunFailed(f"{death} holding the lock of the counter T; the run cannot go on")
        lock.release()
        dead = self.processes[rank]
        self.worker_info[rank].setdefault("restarts", []).append(
            {"pid": dead.pid, "exit_code": dead.exitcode, "T": self.shared.frames.value, "at": provenance.now_iso()})
        self.restarts_left -= 1
        log.warning("%s; restarting it (%d restart(s) left)", death, self.restarts_left)
        self._start(rank)
        self._write_info()

    # ---- output ------------------------------------------------------------------------------
    def _mean_recent_return(self) -> float | None:
        return sum(self.recent_returns) / len(self.recent_returns) if self.recent_returns else None

    def _write_progress(self, now: float, frames: int) -> None:
        last_frames, last_time = self.last_row
        row = {
            "T": frames,
            "wall_seconds": now - self.start_time,
            "fps": (frames - last_frames) / (now - last_time) if now - last_time > 0.05 else None,
            "lr": annealed_lr(self.config, frames),
            "updates": self.updates,
            "episodes": self.episodes,
            "return_mean_100": self._mean_recent_return(),
        }
        for name, total in self.stat_sums.items():
            row[name] = total / self.stat_updates if self.stat_updates else None
        self.stat_sums = dict.fromkeys(self.stat_names, 0.0)
        self.stat_updates = 0
        self.progress_log.write(row)
        self.info["summary"].update(frames=frames, wall_seconds=round(now - self.start_time, 3),
                                    episodes=self.episodes, mean_return_last_100=row["return_mean_100"])
        self._write_info()
        self.last_row = (frames, now)

    def _log_status(self, now: float, frames: int) -> None:
        elapsed = now - self.start_time
        fps = frames / max(elapsed, 1e-9)
        remaining = (self.config.frames - frames) / fps if fps > 0 else float("inf")
        if self.config.max_seconds:
            remaining = min(remaining, self.config.max_seconds - elapsed)
        recent = self._mean_recent_return()
        log.info("T %s/%s (%3.0f%%) | %s fps | return(last %d) %s | episodes %d | lr %.2e | ETA %s",
                 f"{frames:,}", f"{self.config.frames:,}", 100 * frames / self.config.frames, f"{fps:,.0f}",
                 len(self.recent_returns), "-" if recent is None else f"{recent:.1f}", self.episodes,
                 annealed_lr(self.config, frames), _duration(max(remaining, 0.0)))

    def _save_checkpoint(self, now: float) -> None:
        checkpoint = Checkpoint.take(
            self.shared,
            wall_seconds=now - self.start_time,
            results={csv_log.path.name: csv_log.contents() for csv_log in self.csv_logs},
            totals={
                "episodes": self.episodes,
                "updates": self.updates,
                "recent_returns": list(self.recent_returns),
                "evaluation_scores": [[T, final, scores] for (T, final), scores in self.evaluation_scores.items()],
                "target_updates": self.info["target_updates"],
                "summary": self.info["summary"],
            },
            worker_random_states=dict(self.worker_random_states),
        )
        checkpoint.save(self.run_dir)
        self.info["checkpoint"] = {"T": checkpoint.frames, "at": provenance.now_iso()}  # T goes on meanwhile

    def _restore_totals(self, checkpoint: Checkpoint) -> None:
        totals = checkpoint.totals
        self.trained_before = checkpoint.wall_seconds
        self.episodes, self.updates = totals["episodes"], totals["updates"]
        self.recent_returns.extend(totals["recent_returns"])
        self.evaluation_scores = {(T, final): scores for T, final, scores in totals["evaluation_scores"]}
        self.info["target_updates"] = totals["target_updates"]
        self.info["summary"] = totals["summary"]

    def _finish_uninterrupted(self, status: str, error: str | None) -> None:
        """`_finish` a run that stops early, ignoring Ctrl-C and SIGTERM meanwhile: a second signal
        (a launcher and a user both stopping the job) would otherwise leave its files half-finished.
        It takes at most `shutdown_grace_seconds` and a few more."""
        if threading.current_thread() is not threading.main_thread():  # only there can signals be set
            self._finish(status, error)
            return
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._finish(status, error)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _finish(self, status: str, error: str | None) -> str:
        """Stop every worker, flush every file, write the final run.json; return the final status.

        An interrupted or failed run leaves a checkpoint to continue from; a completed one needs none.
        Writes that fail here (the disk is full) are logged: the files on disk stay whole.
        """
        self.shared.stop.set()
        stopped_at, stopped_frames = self.stopped or (time.monotonic(), self.shared.frames.value)
        workers = {rank: process for rank, process in self.processes.items() if rank != EVALUATOR_RANK}
        failures = self._stop(workers, self.config.shutdown_grace_seconds)
        self.shared.workers_done.set()
        if EVALUATOR_RANK in self.processes:
            final = status == "completed" and not failures and self.config.evaluation.final
            grace = self.config.evaluation.final_timeout_seconds if final else 0.0
            failures += self._stop({EVALUATOR_RANK: self.processes[EVALUATOR_RANK]}, grace)
        self.inbox.close()
        if status == "completed" and failures:  # a worker failed while stopping: say so
            status, error = "failed", "; ".join(failures)
        frames = self.shared.frames.value
        try:
            self._write_progress(stopped_at, frames)
            if status == "completed":
                (self.run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
                self.info.pop("checkpoint", None)
            else:
                self._save_checkpoint(stopped_at)
        except OSError as write_error:
            log.error("could not write the last results: %s", write_error)
        for csv_log in self.csv_logs:
            csv_log.close()
        wall = max(stopped_at - self.start_time, 1e-9)
        self.info["summary"].update(
            frames=frames,
            wall_seconds=round(wall, 3),
            frames_per_second=round(stopped_frames / wall, 1),
            updates=self.updates,
            episodes=self.episodes,
            mean_return_last_100=self._mean_recent_return(),
            **self._evaluation_summary(),
        )
        self.info.update(status=status, error=error, ended_at=provenance.now_iso())
        try:
            self._write_info()
        except OSError as write_error:
            log.error("could not write run.json: %s", write_error)
        recent = self._mean_recent_return()
        log.info("run %s: %s frames in %.1f s (%s fps), mean return of the last %d episodes %s",
                 status, f"{frames:,}", wall, f"{stopped_frames / wall:,.0f}", len(self.recent_returns),
                 "-" if recent is None else f"{recent:.1f}")
        return status

    def _stop(self, processes: dict[int, Any], grace: float) -> list[str]:
        """Give `processes` (by rank) `grace` seconds to exit, then terminate them; return their failures."""
        deadline = time.monotonic() + grace
        while any(process.is_alive() for process in processes.values()) and time.monotonic() < deadline:
            self._drain(timeout=0.05)
        terminated = set()
        for rank, process in processes.items():
            if process.is_alive():
                if grace > 0:
                    log.warning("%s did not stop within %.0f s; terminating it", _name(rank), grace)
                process.terminate()
                process.join(timeout=2.0)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=2.0)
                terminated.add(rank)
        self._drain(timeout=0.0)
        failures = []
        for rank, process in processes.items():
            self.worker_info[rank]["exit_code"] = process.exitcode
            if process.exitcode not in (0, None) and rank not in terminated:
                failures.append(f"{_name(rank)} (pid {process.pid}) exited with code {process.exitcode}")
        return failures

    def _evaluation_summary(self) -> dict[str, Any]:
        """Mean score of the last periodic evaluation and of the final one (None where there was none)."""
        def mean_of(final: bool) -> tuple[int | None, float | None]:
            snapshots = sorted(frames for frames, is_final in self.evaluation_scores if is_final == final)
            if not snapshots:
                return None, None
            scores = self.evaluation_scores[(snapshots[-1], final)]
            return snapshots[-1], sum(scores) / len(scores)

        (last_T, last), (_, final) = mean_of(False), mean_of(True)
        return {"last_evaluation_T": last_T, "last_evaluation_mean": last, "final_evaluation_mean": final}

    def _write_info(self) -> None:
        write_json_atomically(self.run_dir / "run.json", self.info)


def _name(rank: int) -> str:
    return "evaluator" if rank == EVALUATOR_RANK else f"actor-learner {rank}"


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
