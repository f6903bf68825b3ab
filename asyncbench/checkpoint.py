"""Checkpoints: what a run needs to continue after an interruption or a failure, written atomically.

A checkpoint holds the shared parameters theta (and theta-), the shared optimizer statistics, the
global counter T, the training time so far, the random states of the main process and of each
worker (as the worker last reported them, at most `worker_stats_interval_seconds` old), and the
results written so far (the CSV files' whole rows, TensorBoard's event files and the supervisor's
running totals), so that a resumed run's files read as one run. The optimizer statistics are the
shared ones (Shared RMSProp's g) or each worker's own (`optimizer=rmsprop`, `momentum_sgd`: one row a worker). What lives only inside
a worker starts afresh after a resume: its episode in progress (and the emulator's own stream, which
only sticky actions use); Hogwild updates make a run nondeterministic anyway.
"""

from __future__ import annotations

import io
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from asyncbench.records import write_atomically
from asyncbench.shared import SharedState

CHECKPOINT_NAME = "checkpoint.pt"


def save_torch_atomically(state: dict[str, Any], path: Path) -> None:
    """torch.save `state` to `path` atomically. Serialised in memory first: torch's zip writer turns a
    full disk into a RuntimeError ("unexpected pos ...") that hides the OSError, so only plain writes
    may touch the file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomically(path, lambda file: file.write(buffer.getbuffer()))


@dataclass
class Checkpoint:
    """One snapshot of a run.

    Attributes:
        frames: the global counter T.
        wall_seconds: training time so far; the wall-clock budget counts it across resumes.
        parameters: theta, the flat shared parameter vector.
        target_parameters: theta-, for the value-based methods, or None.
        statistics: the optimizer statistics: the shared vector, or one row per worker.
        results: each CSV file's name and its whole rows so far, header included; each TensorBoard
            event file's name and its bytes so far.
        totals: the supervisor's running totals (episodes, updates, recent returns, evaluations, ...).
        rng: the main process's RNG states (torch and Python).
        worker_random_states: each worker's random states by rank (`asyncbench.worker.random_states`).
    """

    frames: int
    wall_seconds: float
    parameters: torch.Tensor
    target_parameters: torch.Tensor | None
    statistics: torch.Tensor
    results: dict[str, str | bytes]
    totals: dict[str, Any]
    rng: dict[str, Any] = field(default_factory=lambda: {"torch": torch.get_rng_state(), "python": random.getstate()})
    worker_random_states: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def take(cls, shared: SharedState, wall_seconds: float, results: dict[str, str | bytes],
             totals: dict[str, Any], worker_random_states: dict[int, dict[str, Any]]) -> "Checkpoint":
        """A snapshot of `shared` as it is now (the workers may be writing theta meanwhile: Hogwild)."""
        return cls(
            frames=shared.frames.value,
            wall_seconds=wall_seconds,
            parameters=shared.parameters.clone(),
            target_parameters=None if shared.target_parameters is None else shared.target_parameters.clone(),
            statistics=shared.optimizer_statistics.clone(),
            results=results,
            totals=totals,
            worker_random_states=worker_random_states,
        )

    def restore(self, shared: SharedState) -> None:
        """theta, theta-, the optimizer statistics, T and the main process's RNG states as they were."""
        shared.parameters.copy_(self.parameters)
        if shared.target_parameters is not None:
            shared.target_parameters.copy_(self.target_parameters)
        shared.optimizer_statistics.copy_(self.statistics)
        shared.frames.value = self.frames
        torch.set_rng_state(self.rng["torch"])
        random.setstate(self.rng["python"])

    def save(self, run_dir: Path) -> None:
        save_torch_atomically(asdict(self), run_dir / CHECKPOINT_NAME)

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        return cls(**torch.load(path, weights_only=True))
