"""The processes of a run: its actor-learners and its evaluator, started, watched, restarted, stopped.

The main process notices a dead worker within a fraction of a second and either starts it again
(`worker_restarts`) or fails the run; a dead helper process (`asyncbench.helper_processes`: the
forkserver, the resource tracker) fails the run too. It never waits on anything without a timeout,
and it has ended every process it started before `stop` returns. Each process sends its records
(`asyncbench.messages`) on a pipe of its own, which the `Inbox` reads.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

import psutil

from asyncbench import provenance
from asyncbench.config import Config
from asyncbench.evaluator import run_evaluator
from asyncbench.helper_processes import dead_helper
from asyncbench.messages import EVALUATOR_RANK, process_name
from asyncbench.run_log import RunLog
from asyncbench.shared import SharedState
from asyncbench.worker import run_actor_learner

log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """The run could not finish; the message is one line naming what failed."""


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


class Processes:
    """The actor-learners (ranks 0 .. threads-1) and the evaluator (`EVALUATOR_RANK`, if enabled).

    Each record received goes to `on_record`; starts, exits and restarts go into the run's log
    (run.json's `workers` and `evaluator`)."""

    def __init__(self, config: Config, shared: SharedState, context: Any, run_log: RunLog,
                 on_record: Callable[[Any], None]):
        self.config = config
        self.shared = shared
        self.context = context
        self.run_log = run_log
        self.on_record = on_record
        self.inbox = Inbox(context)
        self.ranks = [*range(config.threads), *([EVALUATOR_RANK] if config.evaluation.enabled else [])]
        self.started: dict[int, Any] = {}  # by rank
        # The same processes by pid, to watch and signal: a dead forkserver makes those it forked look
        # exited to `started` (exit code 255) while they still run.
        self.pids: dict[int, psutil.Process | None] = {}
        self.restarts_left = config.worker_restarts

    def start(self, rank: int) -> None:
        """Start actor-learner `rank`, or the evaluator, sending its records on a new pipe."""
        records = self.inbox.open()
        environment = dict(os.environ)
        if rank == EVALUATOR_RANK:
            process = self.context.Process(target=run_evaluator, name="evaluator", daemon=True,
                                           args=(self.config, self.shared, records, environment))
        else:
            process = self.context.Process(target=run_actor_learner, name=f"actor-learner-{rank}", daemon=True,
                                           args=(rank, self.config, self.shared, records, environment,
                                                 self.run_log.worker_random_states.get(rank)))
        process.start()
        records.close()
        self.started[rank] = process
        try:
            self.pids[rank] = psutil.Process(process.pid)
        except psutil.NoSuchProcess:  # it has exited already
            self.pids[rank] = None
        self.run_log.worker_info[rank].update(pid=process.pid, exit_code=None)

    def receive(self, timeout: float) -> None:
        """Hand every record waiting (after up to `timeout` for the first) to `on_record`."""
        for record in self.inbox.receive(timeout):
            self.on_record(record)

    def check(self) -> None:
        """Restart an actor-learner that has exited before the run was told to stop, while restarts are
        left (`worker_restarts`); otherwise, for the evaluator, or for a helper process, raise RunFailed."""
        self._check_helpers()
        for rank, process in list(self.started.items()):
            if process.exitcode is not None and not self.shared.stop.is_set():
                self.receive(timeout=0.2)  # its last words, if it managed to send them
                self._check_helpers()  # a dead forkserver shows first as its processes exiting with code 255
                info = self.run_log.worker_info[rank]
                info["exit_code"] = process.exitcode
                error = info.pop("error", "").strip().splitlines()
                death = f"{process_name(rank)} (pid {process.pid}) exited with code {process.exitcode}" + (
                    f": {error[-1]}" if error else "")
                if rank == EVALUATOR_RANK or self.restarts_left == 0:
                    raise RunFailed(f"{death}; see {self.run_log.run_dir / 'run.json'}")
                self._restart(rank, death)

    def _check_helpers(self) -> None:
        dead = dead_helper(self.config.start_method)
        if dead is not None:
            raise RunFailed(f"{_helper_death(*dead)}; see {self.run_log.run_dir / 'run.json'}")

    def _restart(self, rank: int, death: str) -> None:
        """Start actor-learner `rank` again; its death goes to run.json (`workers[rank].restarts`)."""
        # A worker killed inside `SharedState.add_frames` leaves the lock of T held for ever, and the
        # others would hang on it: then the run cannot go on.
        lock = self.shared.frames_lock
        if not lock.acquire(timeout=1.0):
            raise RunFailed(f"{death} holding the lock of the counter T; the run cannot go on")
        lock.release()
        dead = self.started[rank]
        self.run_log.worker_info[rank].setdefault("restarts", []).append(
            {"pid": dead.pid, "exit_code": dead.exitcode, "T": self.shared.frames.value, "at": provenance.now_iso()})
        self.restarts_left -= 1
        log.warning("%s; restarting it (%d restart(s) left)", death, self.restarts_left)
        self.start(rank)
        self.run_log.write_info()

    def stop(self, completed: bool) -> list[str]:
        """Stop the actor-learners within `shutdown_grace_seconds`, then the evaluator: within
        `evaluation.final_timeout_seconds` to evaluate the final weights if the run `completed` and
        `evaluation.final`, at once otherwise. Return the failures: of those that exited on their own,
        or of a helper process (a dead forkserver leaves their exit codes unknown: null in run.json)."""
        workers = {rank: process for rank, process in self.started.items() if rank != EVALUATOR_RANK}
        failures = self._stop(workers, self.config.shutdown_grace_seconds)
        self.shared.workers_done.set()
        if EVALUATOR_RANK in self.started:
            final = completed and not failures and self.config.evaluation.final
            grace = self.config.evaluation.final_timeout_seconds if final else 0.0
            if final:
                self.run_log.start_final_evaluation()
            failures += self._stop({EVALUATOR_RANK: self.started[EVALUATOR_RANK]}, grace)
        self.inbox.close()
        dead = dead_helper(self.config.start_method)
        if dead is None:
            return failures
        if dead[0] == "forkserver":
            for rank in self.started:
                self.run_log.worker_info[rank]["exit_code"] = None
        return [_helper_death(*dead)]

    def _stop(self, processes: dict[int, Any], grace: float) -> list[str]:
        """Give `processes` (by rank) `grace` seconds to exit, then end them; return their failures."""
        deadline = time.monotonic() + grace
        while any(self._running(rank) for rank in processes) and time.monotonic() < deadline:
            self.receive(timeout=0.05)
        ended = [rank for rank in processes if self._running(rank)]
        for rank in ended:
            if grace > 0:
                log.warning("%s did not stop within %.0f s; terminating it", process_name(rank), grace)
            self._end(rank)
        self.receive(timeout=0.0)
        failures = []
        for rank, process in processes.items():
            process.join(timeout=1.0)  # for its exit code, which the forkserver sends once it has reaped it
            self.run_log.worker_info[rank]["exit_code"] = process.exitcode
            if process.exitcode not in (0, None) and rank not in ended:
                failures.append(f"{process_name(rank)} (pid {process.pid}) exited with code {process.exitcode}")
        return failures

    def _running(self, rank: int) -> bool:
        process = self.pids[rank]
        try:
            return process is not None and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def _end(self, rank: int) -> None:
        """SIGTERM, then SIGKILL if it still runs 2 s later; by its pid, which reaches it whether or not
        the forkserver that started it lives."""
        for send in (self.pids[rank].terminate, self.pids[rank].kill):
            try:
                send()
            except psutil.NoSuchProcess:
                return
            deadline = time.monotonic() + 2.0
            while self._running(rank) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not self._running(rank):
                return


def _helper_death(name: str, pid: int, exit_code: int) -> str:
    return f"the {name} (pid {pid}) exited with code {exit_code}"
