"""The evaluator's throttle holds it to its CPU share."""

import time

import pytest

from asyncbench.evaluator import Throttle


def test_throttle_keeps_cpu_time_within_its_share_of_wall_time():
    throttle = Throttle(share=0.25, quantum=0.02)
    cpu, wall = time.process_time(), time.monotonic()
    while time.monotonic() - wall < 1.0:
        sum(range(2000))  # about 50 microseconds of work, as one evaluation step would do
        throttle.wait()
    used, elapsed = time.process_time() - cpu, time.monotonic() - wall
    assert used / elapsed == pytest.approx(0.25, abs=0.05)
