"""Progress bars on a terminal, none elsewhere: the real commands, their standard error a pseudo-terminal
or a pipe."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from conftest import ROOT
from tests.synthetic_runs import write_run


def standard_error(arguments, terminal):
    """Run `python ARGUMENTS` in the repository root; return its exit code and what it wrote to standard
    error, a pseudo-terminal if `terminal`, else a pipe."""
    command = [sys.executable, *arguments]
    if not terminal:
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        return done.returncode, done.stderr.decode()
    reader, writer = pty.openpty()
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows of 100 columns
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=writer)
    os.close(writer)
    output = b""
    while True:
        try:
            chunk = os.read(reader, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(reader)
    return process.wait(timeout=300), output.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("terminal", [True, False])
def test_analysis_reads_the_runs_under_a_bar_on_a_terminal_only(tmp_path, terminal):
    for seed in range(3):
        write_run(tmp_path / "runs" / str(seed), algorithm="a3c", game="cartpole", seed=seed,
                  episodes=[(1000, 1.0, 10.0)], final_scores=[50.0])

    code, output = standard_error(["-m", "analysis", "claims", str(tmp_path / "runs"), "--out", str(tmp_path / "out")],
                                  terminal)

    assert code == 0, output
    assert ("reading runs: " in output) == terminal and ("\r" in output) == terminal


@pytest.mark.slow
@pytest.mark.parametrize("terminal", [True, False])
def test_the_final_evaluation_and_the_sweep_summary_show_bars_on_a_terminal_only(tmp_path, terminal):
    code, output = standard_error(["-m", "asyncbench", "-m", "game=cartpole", "threads=1", "frames=2000",
                                   "evaluation.episodes=3", f"hydra.sweep.dir={tmp_path}"], terminal)

    assert code == 0, output
    assert "sweep" in output and "1 completed" in output  # the summary, in both cases
    assert ("final evaluation: " in output) == terminal
    assert ("reading the jobs' run.json: " in output) == terminal
