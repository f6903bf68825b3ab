"""The run seen in TensorBoard: event files in the run directory, written by the main process alone.

Scalars take the names CleanRL's scripts use, on the x axis of the global T: each training episode's
`charts/episodic_return` and `charts/episodic_length`; each completed evaluation's mean `eval/score`;
and every number of each progress.csv row, `fps` as `charts/SPS`, `lr` as `charts/learning_rate`, the
method's statistics as `losses/<name>` and any other column as `charts/<column>`. The resolved config
is there as text and as hyperparameters (TensorBoard's HParams tab). A checkpoint carries the event
files as written so far, so that a resumed run, in its own directory or another, continues the same
curves without the points its interrupted predecessor wrote after that checkpoint.

The events are written in this thread, as the CSV rows are, not from SummaryWriter's background thread:
a write that fails (a full disk) then raises an OSError naming the file where the run can report it,
instead of a traceback from another thread. They reach the file at each progress row.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard.summary import hparams, scalar, text

EVENT_FILE_PREFIX = "events.out.tfevents."
RENAMED = {"fps": "charts/SPS", "lr": "charts/learning_rate"}
X_AXIS = "T"
# The scalars the HParams tab shows beside each run's hyperparameters (their last values).
HPARAM_METRICS = ("eval/score", "charts/return_mean_100")


class TensorBoardLog:
    """The event files of one run in `run_dir`.

    `earlier_files` (name -> bytes, from a checkpoint) are written back first: the run continues them.
    Without them the run is new, and its config goes in as text and hyperparameters.
    """

    def __init__(self, run_dir: Path, stat_names: tuple[str, ...], resolved_config: dict[str, Any],
                 earlier_files: dict[str, bytes] | None = None):
        self.run_dir = run_dir
        self.stat_names = stat_names
        for name, content in (earlier_files or {}).items():
            (run_dir / name).write_bytes(content)
        # TensorBoard reads the files of a directory in the order of their names: this one sorts after
        # those of the run it continues.
        self.path = run_dir / f"{EVENT_FILE_PREFIX}{time.time():.0f}.{socket.gethostname()}.{os.getpid()}"
        self.file = open(self.path, "wb")
        self.records = RecordWriter(self.file)
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if not earlier_files:
            config_text = "\n".join("    " + line for line in json.dumps(resolved_config, indent=2).splitlines())
            self._add(text("config", config_text), step=0)
            for summary in hparams(_flat(resolved_config), dict.fromkeys(HPARAM_METRICS)):
                self._add(summary, step=0)
        self._flush()

    def tag(self, column: str) -> str:
        if column in RENAMED:
            return RENAMED[column]
        return f"losses/{column}" if column in self.stat_names else f"charts/{column}"

    def progress(self, row: dict[str, Any]) -> None:
        """Every number of a progress.csv row but T, which is their step."""
        for column, value in row.items():
            if column != X_AXIS and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._add(scalar(self.tag(column), value), row[X_AXIS])
        self._flush()  # the rows and episodes so far, for TensorBoard to show while the run trains

    def episode(self, frames: int, episode_return: float, length: int) -> None:
        self._add(scalar("charts/episodic_return", episode_return), frames)
        self._add(scalar("charts/episodic_length", length), frames)

    def evaluation(self, frames: int, scores: list[float]) -> None:
        self._add(scalar("eval/score", sum(scores) / len(scores)), frames)

    def files(self) -> dict[str, bytes]:
        """Every event file of the run as written so far (for a checkpoint)."""
        self._flush()
        return {path.name: path.read_bytes() for path in sorted(self.run_dir.glob(EVENT_FILE_PREFIX + "*"))}

    def close(self) -> None:
        with self._naming_the_file():
            self.file.close()

    def _add(self, summary: Summary, step: int) -> None:
        self._write(Event(wall_time=time.time(), step=step, summary=summary))

    def _write(self, event: Event) -> None:
        with self._naming_the_file():
            self.records.write(event.SerializeToString())

    def _flush(self) -> None:
        with self._naming_the_file():
            self.file.flush()

    @contextmanager
    def _naming_the_file(self) -> Iterator[None]:
        """An OSError raised meanwhile (a full disk) names the event file."""
        try:
            yield
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.path)) from error


def _flat(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The config's settings by dotted name, as HParams takes them: numbers, strings and booleans
    (lists and nulls as their text)."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
    return flat
