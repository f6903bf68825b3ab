"""The forkserver that `python -m asyncbench` starts before its own imports: it imports torch once for every
process it forks, and a process it forks takes the main process's environment of the moment, not the older
one the forkserver inherited."""

import os
import sys

import torch.multiprocessing as mp

from asyncbench.helper_processes import PRELOADED, start_forkserver, take_environment

PROBE = "ASYNCBENCH_TEST_PROBE"


def report(environment, sender):
    """In a process the forkserver forked: the probe's value, before and after taking `environment`, and
    whether the preloaded modules were imported before this process imported anything."""
    inherited = os.environ.get(PROBE)
    preloaded = all(name in sys.modules for name in PRELOADED)
    take_environment(environment)
    sender.send((inherited, os.environ.get(PROBE), preloaded))


def test_a_forked_process_takes_the_environment_the_main_process_has_now(monkeypatch):
    monkeypatch.delenv(PROBE, raising=False)
    start_forkserver()
    monkeypatch.setenv(PROBE, "set after the forkserver started")
    context = mp.get_context("forkserver")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=report, args=(dict(os.environ), sender))
    process.start()
    inherited, taken, preloaded = receiver.recv()
    process.join(timeout=10)
    assert process.exitcode == 0
    assert inherited is None  # the forkserver's own environment, older than the change
    assert taken == "set after the forkserver started"
    assert preloaded

