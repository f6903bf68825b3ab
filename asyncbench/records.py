"""The files of a run, written by the main process only: rows flushed as they come, JSON replaced atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

EPISODE_COLUMNS = ("T", "wall_seconds", "worker", "return", "length")
EVALUATION_COLUMNS = ("T", "wall_seconds", "episode", "score", "length", "final")
PROGRESS_COLUMNS = ("T", "wall_seconds", "fps", "lr", "updates", "episodes", "return_mean_100", "policy_lag_mean",
                    "policy_lag_p95")


class CsvLog:
    """An append-only CSV file whose every row reaches the disk whole as soon as it is written.

    Each row goes out in one unbuffered write; if the write fails (a full disk), the file is cut back
    to its last whole row before the error propagates, so a reader never sees half a row.
    """

    def __init__(self, path: Path, columns: tuple[str, ...], earlier_rows: str | None = None):
        """Start the file with its header, or with `earlier_rows` (header included) of a resumed run."""
        self.path = path
        self.columns = columns
        self._file = open(path, "wb", buffering=0)
        self._size = 0
        self._append(earlier_rows if earlier_rows is not None else _csv_line(columns))

    def write(self, row: dict[str, Any]) -> None:
        self._append(_csv_line([_cell(row.get(column)) for column in self.columns]))

    def _append(self, text: str) -> None:
        data = text.encode()
        try:
            written = 0
            while written < len(data):
                written += self._file.write(data[written:])
        except OSError as error:
            os.ftruncate(self._file.fileno(), self._size)
            self._file.seek(self._size)
            raise OSError(error.errno, error.strerror, str(self.path)) from error  # name the file
        self._size += len(data)

    def contents(self) -> str:
        """Every whole row written so far, header included (for a checkpoint)."""
        with open(self.path, "rb") as file:
            return file.read(self._size).decode()

    def close(self) -> None:
        self._file.close()


def _csv_line(cells: Any) -> str:
    line = io.StringIO()
    csv.writer(line).writerow(cells)
    return line.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def describe_os_error(error: OSError) -> str:
    """One line: why, and which file (`No space left on device: runs/.../episodes.csv`)."""
    return f"{error.strerror}: {error.filename}" if error.strerror and error.filename else str(error)


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, fsync it, then rename it over `path`:
    readers see the old file or the new one, never half a file, even if the disk fills meanwhile."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a results file is for everyone to read
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            raise OSError(error.errno, error.strerror, str(path)) from error  # name the file
        raise


def write_json_atomically(path: Path, content: dict[str, Any]) -> None:
    write_atomically(path, lambda file: file.write((json.dumps(content, indent=2, default=str) + "\n").encode()))
