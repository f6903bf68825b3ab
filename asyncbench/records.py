"""The files of a run, written by the main process only: rows flushed as they come, JSON replaced atomically."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

EPISODE_COLUMNS = ("T", "wall_seconds", "worker", "return", "length")
EVALUATION_COLUMNS = ("T", "wall_seconds", "episode", "score", "length", "final")
PROGRESS_COLUMNS = ("T", "wall_seconds", "fps", "lr", "updates", "episodes", "return_mean_100")


class CsvLog:
    """An append-only CSV file whose every row reaches the disk as soon as it is written."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.columns = columns
        self._file = open(path, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(columns)
        self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow([_cell(row.get(column)) for column in self.columns])
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def write_json_atomically(path: Path, content: dict[str, Any]) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename over `path`: never half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(content, file, indent=2, default=str)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a results file is for everyone to read
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
