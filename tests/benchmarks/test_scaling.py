"""A3C on Pong with 1, 2 and 16 actor-learners on this machine: frames/s, start-up and memory.

With more workers than cores, workers take turns on the cores: frames/s cannot grow past the cores'
worth, and the table says how oversubscribed each run was instead of hiding it. Memory is the
proportional set size (PSS) the run adds to the process tree at its peak, sampled every second: a page that
k processes share counts 1/k in each, so the shared parameters and RMSProp statistics count once
however many workers map them, and the benchmark checks that every worker maps the same ones.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from asyncbench.config import load_config
from asyncbench.helper_processes import start_forkserver
from asyncbench.trainer import train

from .conftest import remeasure_on_regression, report

pytestmark = remeasure_on_regression

ROOT = Path(__file__).resolve().parents[2]
SHARED_TENSOR_FILES = "/dev/shm/torch_"  # where torch.multiprocessing puts shared storages on Linux
# With the default start method (forkserver), whose start-up the gates hold: what users' runs pay, the
# forkserver started before (as asyncbench.__main__ starts it, while the app imports).
PONG = ["game=pong", "frames=100000000", "max_seconds=8", "status_interval_seconds=10", "evaluation.enabled=false"]


class TreeMemory:
    """Samples, in a thread, the memory a run adds to this process tree while it trains: every process
    it starts, the forkserver, and what this process grows by. This process's own memory before the run
    is left out, as are children it had before (other than the forkserver): both depend on what earlier
    tests imported and left running, not on the run."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.peak_pss = self.peak_rss = 0
        me = psutil.Process()
        before = me.memory_full_info()
        self._pss_before, self._rss_before = before.pss, before.rss
        self._children_before = {child.pid for child in me.children(recursive=True) if not _is_forkserver(child)}
        self.shared_segments: dict[str, tuple[int, dict[int, int]]] = {}  # segment -> size, {pid: PSS}, at one sample
        self.mapped_by: dict[str, set[int]] = {}  # segment -> every pid seen mapping it, in any sample
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join()

    def _sample_until_stopped(self) -> None:
        samples = 0
        while not self._stopped.wait(self.interval):
            me = psutil.Process()
            pss, rss = -self._pss_before, -self._rss_before
            tree = [me, *(child for child in me.children(recursive=True) if child.pid not in self._children_before)]
            for process in tree:
                try:
                    memory = process.memory_full_info()
                except psutil.Error:  # it exited meanwhile
                    continue
                pss, rss = pss + memory.pss, rss + memory.rss
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            for process in tree:  # who maps the segments, every sample: 16 workers start over several seconds
                for path in _shared_tensor_files(process.pid):
                    self.mapped_by.setdefault(path, set()).add(process.pid)
            samples += 1
            if samples % 3 == 0:  # their PSS; slower to read, and only the sample of the most mappers kept
                segments = self._shared_segments(tree)
                if _mappers(segments) >= _mappers(self.shared_segments):
                    self.shared_segments = segments

    @staticmethod
    def _shared_segments(tree: list[psutil.Process]) -> dict[str, tuple[int, dict[int, int]]]:
        segments: dict[str, tuple[int, dict[int, int]]] = {}
        for process in tree:
            try:
                for mapping in process.memory_maps(grouped=True):
                    if mapping.path.startswith(SHARED_TENSOR_FILES):
                        segments.setdefault(mapping.path, (mapping.size, {}))[1][process.pid] = mapping.pss
            except psutil.Error:
                continue
        return segments


def _shared_tensor_files(pid: int) -> set[str]:
    try:
        with open(f"/proc/{pid}/maps") as maps:  # cheap to read, unlike smaps with its PSS
            paths = {line.split(maxsplit=5)[-1].strip() for line in maps if SHARED_TENSOR_FILES in line}
    except OSError:  # it exited meanwhile
        return set()
    return {path.removesuffix(" (deleted)") for path in paths}  # as psutil names them


def _is_forkserver(process: psutil.Process) -> bool:
    try:
        return "multiprocessing.forkserver" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def _mappers(segments: dict[str, tuple[int, dict[int, int]]]) -> int:
    return sum(len(pss) for _, pss in segments.values())


@pytest.fixture(scope="module")
def torch_import_seconds() -> float:
    """Start-up's unit, measured on this host: a fresh Python importing torch, what each worker would pay
    again if it did not come from the forkserver that preloaded it."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def _forkserver_ready() -> None:
    """Start the forkserver and wait until it has imported what it preloads, as it has in a user's run by
    the time the main process is ready to start workers: one child forked from it, that does nothing."""
    start_forkserver()
    child = multiprocessing.get_context("forkserver").Process(target=int)
    child.start()
    child.join()


# 1 and 2 workers (this host's cores) and 16 (the paper's); 4 and 8 would add half a minute and no gate.
@pytest.mark.parametrize("threads", [1, 2, 16])
def test_thread_scaling_startup_and_memory(benchmark, tmp_path, threads, torch_import_seconds):
    cores = len(os.sched_getaffinity(0))
    config = load_config([*PONG, f"threads={threads}"])
    _forkserver_ready()
    with TreeMemory() as memory:
        summary = benchmark.pedantic(train, args=(config, tmp_path, {}), rounds=1, iterations=1)

    segments = memory.shared_segments
    report({
        "benchmark": f"a3c pong, {threads} worker(s), scaling",
        "frames/s": summary["frames_per_second"],
        "workers per core": threads / cores,
        "startup s": summary["startup_seconds"],
        "torch import s": torch_import_seconds,
        "startup / torch import": summary["startup_seconds"] / torch_import_seconds,
        "peak PSS MB": memory.peak_pss / 2**20,
        "peak RSS sum MB": memory.peak_rss / 2**20,
        "shared MB": sum(size for size, _ in segments.values()) / 2**20,
        "shared PSS sum MB": sum(sum(pss.values()) for _, pss in segments.values()) / 2**20,
    })
    # theta and the RMSProp statistics g: one segment each, mapped (MAP_SHARED, so never copied) by the main
    # process and every worker. Their PSS is printed, not checked: the processes are read one after another
    # while the workers first touch the pages, so with 16 workers starting the readings added up to more
    # than a segment's size in two runs of three. Who maps them is gathered over every sample: 16 workers
    # start over several seconds, and one sample need not find them all.
    workers = {worker["pid"] for worker in json.loads((tmp_path / "run.json").read_text())["workers"]}
    missing = {path: {os.getpid(), *workers} - pids for path, pids in memory.mapped_by.items()}
    assert len(missing) == 2 and not any(missing.values()), f"processes not seen mapping each segment: {missing}"
