"""The records the actor-learners and the evaluator send the main process, each over a pipe of its own.

A worker computes and sends; the main process alone writes the run's files (`asyncbench.run_log`).
These types are all that crosses from one to the other, so the worker, the evaluator and the main
process import them from here. (`asyncbench.records` holds the writers of the files they end up in.)
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

EVALUATOR_RANK = -1  # how the evaluator names itself in the records it shares with the workers


def process_name(rank: int) -> str:
    """How messages name the process `rank`: "actor-learner 3", "evaluator"."""
    return "evaluator" if rank == EVALUATOR_RANK else f"actor-learner {rank}"


@dataclass(frozen=True)
class WorkerReady:
    rank: int
    pid: int
    torch_threads: int
    omp_num_threads: str | None
    cores: list[int]
    continues_random_states: bool  # its random streams go on from a checkpoint or a dead predecessor


@dataclass(frozen=True)
class Episode:
    rank: int
    frames: int
    wall_seconds: float
    episode_return: float
    length: int


@dataclass(frozen=True)
class UpdateStats:
    """Sums over `updates` updates, so the main process can average across workers, how often each
    policy lag occurred in them (`policy_lags[k]` updates had lag k), what the worker's method drew for
    itself so far (`Method.details`), and the worker's random states (for checkpoints, and for a
    replacement should the worker die)."""

    rank: int
    updates: int
    sums: dict[str, float]
    policy_lags: list[int]
    details: dict[str, Any]
    random_states: dict[str, Any]


@dataclass(frozen=True)
class TargetUpdated:
    """theta- <- theta, done by worker `rank` when T passed a multiple of the target interval."""

    rank: int
    frames: int


@dataclass(frozen=True)
class EvaluationEpisode:
    frames: int  # T of the snapshot that played it
    wall_seconds: float
    episode: int
    score: float  # the raw game score
    length: int
    final: bool


@dataclass(frozen=True)
class WorkerFailed:
    rank: int
    error: str


@contextmanager
def failure_reported(rank: int, records: Connection) -> Iterator[None]:
    """Run the body; should it raise, send its traceback as `WorkerFailed` and exit with code 1.

    Where the main process no longer reads the pipe (it has ended the run, or died), the traceback
    goes nowhere: the main process says in one line why the run ended."""
    try:
        yield
    except Exception:
        try:
            records.send(WorkerFailed(rank, traceback.format_exc()))
        except BrokenPipeError:
            pass
        raise SystemExit(1)
