"""The run's log: its running totals, and the files the main process alone writes from them.

`episodes.csv` and `evaluations.csv` get a row for each record that comes in, `progress.csv` one
every `progress_interval_seconds`; the status line goes to the log every `status_interval_seconds`;
`run.json` says how the run stands (status, workers, summary, error) and is replaced atomically each
time; with `logger.tensorboard`, TensorBoard's event files get the same records (`asyncbench.tensorboard`).
A checkpoint carries the totals, the files' rows and the event files, so that a resumed run's files read
as one run. A write that fails (a full disk, a read-only directory) raises an OSError naming the file and
leaves every file whole.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from asyncbench import provenance
from asyncbench.algorithms import ALGORITHMS
from asyncbench.checkpoint import CHECKPOINT_NAME, Checkpoint
from asyncbench.config import Config
from asyncbench.learner import annealed_lr
from asyncbench.messages import (
    EVALUATOR_RANK,
    Episode,
    EvaluationEpisode,
    TargetUpdated,
    UpdateStats,
    WorkerFailed,
    WorkerReady,
    process_name,
)
from asyncbench.progress_bar import progress_bar
from asyncbench.records import (
    EPISODE_COLUMNS,
    EVALUATION_COLUMNS,
    PROGRESS_COLUMNS,
    CsvLog,
    write_json_atomically,
)
from asyncbench.shared import SharedState
from asyncbench.tensorboard import EVENT_FILE_PREFIX, TensorBoardLog
from asyncbench.totals import Totals

log = logging.getLogger(__name__)


class RunLog:
    """The totals, the CSV files, the status line and run.json of one run, and its checkpoints."""

    def __init__(self, config: Config, run_dir: Path, resolved_config: dict[str, Any], overrides: list[str],
                 choices: dict[str, str], checkpoint: Checkpoint | None = None):
        self.config = config
        self.run_dir = run_dir
        self.totals = Totals(ALGORITHMS[config.algorithm.name].stat_names, checkpoint)
        # Each worker's latest random states: a checkpoint holds them, a resumed or restarted worker goes on from them.
        self.worker_random_states: dict[int, dict[str, Any]] = dict(checkpoint.worker_random_states) if checkpoint else {}
        self.worker_info: dict[int, dict[str, Any]] = {rank: {"rank": rank}
                                                       for rank in [*range(config.threads), EVALUATOR_RANK]}
        earlier = checkpoint.results if checkpoint else {}
        self.episodes_csv = CsvLog(run_dir / "episodes.csv", EPISODE_COLUMNS, earlier.get("episodes.csv"))
        self.evaluations_csv = CsvLog(run_dir / "evaluations.csv", EVALUATION_COLUMNS, earlier.get("evaluations.csv"))
        self.progress_csv = CsvLog(run_dir / "progress.csv", PROGRESS_COLUMNS + tuple(self.totals.stat_sums),
                                   earlier.get("progress.csv"))
        self.tensorboard = None
        if config.logger.tensorboard:
            event_files = {name: content for name, content in earlier.items() if name.startswith(EVENT_FILE_PREFIX)}
            self.tensorboard = TensorBoardLog(run_dir, tuple(self.totals.stat_sums), resolved_config, event_files)
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
        self.final_evaluation_bar = None  # on a terminal, while the final weights are evaluated
        # Seconds of training before the checkpoint this run continues from: the run's clock goes on from there.
        self.trained_before = 0.0
        if checkpoint is not None:
            self.trained_before = checkpoint.wall_seconds
            self.info["target_updates"] = checkpoint.totals["target_updates"]
            self.info["summary"] = checkpoint.totals["summary"]
        self.launched = time.monotonic()
        self.start_time = self.launched
        self.last_row: tuple[int, float] = (0, self.launched)  # (T, time) of the last progress row
        self.write_info()

    # ---- records ------------------------------------------------------------------------------
    def episode(self, record: Episode) -> None:
        self.totals.add_episode(record)
        self.episodes_csv.write({"T": record.frames, "wall_seconds": record.wall_seconds, "worker": record.rank,
                                 "return": record.episode_return, "length": record.length})
        if self.tensorboard:
            self.tensorboard.episode(record.frames, record.episode_return, record.length)

    def update_stats(self, record: UpdateStats) -> None:
        self.totals.add_updates(record)
        self.worker_info[record.rank].update(record.details)
        self.worker_random_states[record.rank] = record.random_states

    def target_updated(self, record: TargetUpdated) -> None:
        self.info["target_updates"].append(record.frames)

    def evaluation_episode(self, record: EvaluationEpisode) -> list[float]:
        """Write the episode's row; return its evaluation's scores so far."""
        scores = self.totals.add_evaluation(record)
        self.evaluations_csv.write({"T": record.frames, "wall_seconds": record.wall_seconds, "episode": record.episode,
                                    "score": record.score, "length": record.length, "final": record.final})
        if self.tensorboard and len(scores) == self.config.evaluation.episodes:
            self.tensorboard.evaluation(record.frames, scores)
        if record.final and self.final_evaluation_bar is not None:
            self.final_evaluation_bar.update()
        return scores

    def start_final_evaluation(self) -> None:
        self.final_evaluation_bar = progress_bar(total=self.config.evaluation.episodes,
                                                 description="final evaluation", unit="episode")

    def worker_ready(self, record: WorkerReady) -> None:
        self.worker_info[record.rank].update(pid=record.pid, torch_threads=record.torch_threads,
                                             omp_num_threads=record.omp_num_threads, cores=record.cores,
                                             continues_random_states=record.continues_random_states)

    def worker_failed(self, record: WorkerFailed) -> None:
        self.worker_info[record.rank]["error"] = record.error
        log.error("%s failed:\n%s", process_name(record.rank), record.error)

    def record_early_stop(self, reason: str, frames: int, wall_seconds: float, **measured: float) -> bool:
        """Record in the summary why and when (T, wall-clock) training ends before its budgets; return
        False if it was recorded before."""
        if reason in self.info["summary"]:
            return False
        self.info["summary"][reason] = {"T": frames, "wall_seconds": round(wall_seconds, 3), **measured}
        return True

    # ---- the clock ----------------------------------------------------------------------------
    def start_clock(self, started: float) -> float:
        """Training starts at `started` (time.monotonic()); return the start of the run's clock, which
        a resumed run's sets back by the training it did before."""
        self.start_time = started - self.trained_before
        return self.start_time

    def mark_running(self, started: float) -> None:
        self.info["status"] = "running"
        self.info["summary"]["startup_seconds"] = round(started - self.launched, 3)
        self.write_info()
        log.info("%d actor-learner(s) started in %.1f s; run directory %s",
                 self.config.threads, started - self.launched, self.run_dir)

    def progress_from(self, frames: int, now: float) -> None:
        """The next progress row's frames/s counts from T = `frames` at `now`."""
        self.last_row = (frames, now)

    # ---- files and the status line ------------------------------------------------------------
    def write_progress(self, now: float, frames: int) -> None:
        last_frames, last_time = self.last_row
        totals = self.totals
        row = {
            "T": frames,
            "wall_seconds": now - self.start_time,
            "fps": (frames - last_frames) / (now - last_time) if now - last_time > 0.05 else None,
            "lr": annealed_lr(self.config, frames),
            "updates": totals.updates,
            "episodes": totals.episodes,
            "return_mean_100": totals.mean_recent_return(),
            **totals.take_stat_means(),
        }
        self.progress_csv.write(row)
        if self.tensorboard:
            self.tensorboard.progress(row)
        self.info["summary"].update(frames=frames, wall_seconds=round(now - self.start_time, 3),
                                    episodes=totals.episodes, mean_return_last_100=row["return_mean_100"],
                                    policy_lag=totals.policy_lags.summary())
        self.write_info()
        self.last_row = (frames, now)

    def log_status(self, now: float, frames: int) -> None:
        elapsed = now - self.start_time
        fps = frames / max(elapsed, 1e-9)
        remaining = (self.config.frames - frames) / fps if fps > 0 else float("inf")
        if self.config.max_seconds:
            remaining = min(remaining, self.config.max_seconds - elapsed)
        recent = self.totals.mean_recent_return()
        log.info("T %s/%s (%3.0f%%) | %s fps | return(last %d) %s | episodes %d | lr %.2e | ETA %s",
                 f"{frames:,}", f"{self.config.frames:,}", 100 * frames / self.config.frames, f"{fps:,.0f}",
                 len(self.totals.recent_returns), "-" if recent is None else f"{recent:.1f}", self.totals.episodes,
                 annealed_lr(self.config, frames), _duration(max(remaining, 0.0)))

    def save_checkpoint(self, shared: SharedState, now: float) -> None:
        checkpoint = Checkpoint.take(
            shared,
            wall_seconds=now - self.start_time,
            results={**{csv_log.path.name: csv_log.contents() for csv_log in self._csv_logs()},
                     **(self.tensorboard.files() if self.tensorboard else {})},
            totals={**self.totals.for_checkpoint(), "target_updates": self.info["target_updates"],
                    "summary": self.info["summary"]},
            worker_random_states=dict(self.worker_random_states),
        )
        checkpoint.save(self.run_dir)
        self.info["checkpoint"] = {"T": checkpoint.frames, "at": provenance.now_iso()}  # T goes on meanwhile

    def finish(self, shared: SharedState, status: str, error: str | None, stopped: tuple[float, int]) -> None:
        """The last progress row, a checkpoint unless the run completed, the summary and the final run.json.

        `stopped` is (time, T) when training stopped. Writes that fail here (the disk is full) are
        logged: the files on disk stay whole.
        """
        stopped_at, stopped_frames = stopped
        frames = shared.frames.value
        try:
            self.write_progress(stopped_at, frames)
            if status == "completed":
                (self.run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
                self.info.pop("checkpoint", None)
            else:
                self.save_checkpoint(shared, stopped_at)
        except OSError as write_error:
            log.error("could not write the last results: %s", write_error)
        for csv_log in self._csv_logs():
            csv_log.close()
        try:
            if self.tensorboard:
                self.tensorboard.close()
        except OSError as write_error:
            log.error("could not write the last results: %s", write_error)
        if self.final_evaluation_bar is not None:
            self.final_evaluation_bar.close()
        totals = self.totals
        wall = max(stopped_at - self.start_time, 1e-9)
        self.info["summary"].update(
            frames=frames,
            wall_seconds=round(wall, 3),
            frames_per_second=round(stopped_frames / wall, 1),
            updates=totals.updates,
            episodes=totals.episodes,
            mean_return_last_100=totals.mean_recent_return(),
            policy_lag=totals.policy_lags.summary(),
            **totals.evaluation_summary(),
        )
        self.info.update(status=status, error=error, ended_at=provenance.now_iso())
        try:
            self.write_info()
        except OSError as write_error:
            log.error("could not write run.json: %s", write_error)
        recent = totals.mean_recent_return()
        log.info("run %s: %s frames in %.1f s (%s fps), mean return of the last %d episodes %s",
                 status, f"{frames:,}", wall, f"{stopped_frames / wall:,.0f}", len(totals.recent_returns),
                 "-" if recent is None else f"{recent:.1f}")

    def write_info(self) -> None:
        write_json_atomically(self.run_dir / "run.json", self.info)

    def _csv_logs(self) -> tuple[CsvLog, ...]:
        return self.episodes_csv, self.progress_csv, self.evaluations_csv


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
