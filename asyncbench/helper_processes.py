"""The processes that multiprocessing starts for a run besides its own: the forkserver, which forks the
actor-learners and the evaluator (start_method=forkserver), and the resource tracker, which frees the
named semaphores of a process that dies without freeing them.

The main process watches both: a dead forkserver makes every process it forked look dead, with exit
code 255 (its pipe to the main process, which would carry their exit codes, has closed), and a dead
resource tracker would be started again at the next semaphore freed, with a warning, and print a
traceback for every semaphore it never heard of. The main process ends both as it exits, after
multiprocessing's own exit handlers. multiprocessing keeps them private: their pids and pipes are read
from its module state, under the same names from Python 3.10 to 3.13.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from multiprocessing import forkserver, resource_tracker, util


# What the forkserver imports once, for every process it forks: each starts with torch imported instead of
# importing it itself (1.5 s of CPU a process).
PRELOADED = ["asyncbench.worker", "asyncbench.evaluator"]


def start_forkserver() -> None:
    """Start the forkserver (if it is not running), importing PRELOADED. The processes it forks inherit
    its environment, which may be older than this process's (`take_environment`); the one variable that
    matters as torch is imported, its OpenMP threads (one a worker), is set first."""
    os.environ["OMP_NUM_THREADS"] = "1"
    forkserver.set_forkserver_preload(PRELOADED)
    forkserver.ensure_running()


def take_environment(environment: Mapping[str, str]) -> None:
    """In an actor-learner or the evaluator: the main process's environment as it was when it started this
    process (after Hydra's `hydra.job.env_set`, say), in place of the one inherited from the forkserver,
    which may have started earlier (asyncbench.__main__)."""
    os.environ.clear()
    os.environ.update(environment)


def follow_main_process() -> int:
    """In an actor-learner or the evaluator, first thing: make its parent exit with the main process,
    and return the parent's pid, to watch.

    Under the forkserver every process it forks keeps its end of the pipe whose closing tells the
    forkserver that the main process has exited: the forkserver, their parent, would then outlive a
    main process that was killed, and so would they, training on."""
    alive = forkserver._forkserver._forkserver_alive_fd
    if alive is not None and forkserver._forkserver._forkserver_pid is None:  # this child's copy
        os.close(alive)
        forkserver._forkserver._forkserver_alive_fd = None
    return os.getppid()


def dead_helper(start_method: str) -> tuple[str, int, int] | None:
    """(name, pid, exit code) of a helper process that has died (the exit code is minus the signal's
    number where a signal killed it); None while they run (the forkserver counts under start_method=forkserver only).

    A dead resource tracker is replaced by /dev/null: what this process would tell it (the semaphores
    it frees) is lost, as it would be anyway, without a new tracker's warning and tracebacks."""
    helpers = {"resource tracker": resource_tracker._resource_tracker._pid}
    if start_method == "forkserver":
        helpers["forkserver"] = forkserver._forkserver._forkserver_pid
    for name, pid in helpers.items():
        code = None if pid is None else _exit_code(pid)
        if code is not None:
            if name == "resource tracker":
                _forget_resource_tracker()
            return name, pid, code
    return None


def _exit_code(pid: int) -> int | None:
    """The exit code of child `pid` once it has exited, else None.
    It is not reaped: multiprocessing reaps its helpers itself, and fails on one already reaped."""
    try:
        exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if exited is None:
        return None
    return exited.si_status if exited.si_code == os.CLD_EXITED else -exited.si_status


def _forget_resource_tracker() -> None:
    tracker = resource_tracker._resource_tracker
    os.waitpid(tracker._pid, 0)
    os.close(tracker._fd)
    tracker._fd, tracker._pid = os.open(os.devnull, os.O_WRONLY), None


def _end_helpers() -> None:
    """Close this process's ends of the helpers' pipes, which ends each, and reap them. Run at exit,
    once the processes of runs have ended: those hold ends of the same pipes. The forkserver is
    terminated first: left to exit by itself, it would tear down the torch it preloaded (1.4 s, on a slow
    host), while this process waits."""
    if forkserver._forkserver._forkserver_pid is not None:
        os.kill(forkserver._forkserver._forkserver_pid, signal.SIGTERM)
    forkserver._forkserver._stop()
    if resource_tracker._resource_tracker._pid is not None:
        resource_tracker._resource_tracker._stop()


# Exit priority -1: after multiprocessing's exit handlers (priority 0), which end the daemonic processes
# still running and free the semaphores, telling the resource tracker.
util.Finalize(None, _end_helpers, exitpriority=-1)
