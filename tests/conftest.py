"""Helpers to run the real command line (`python -m asyncbench`) and read what a run wrote."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# Session fixtures that train with the real app: a test that uses one is `slow`, as a test that runs the
# app itself is (the fast tier, -m "not slow and not benchmark", leaves it out).
TRAINING_FIXTURES = {"sweep", "damaged", "finished_run"}


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def run_app(*overrides, timeout=300, env=None):
    """Run `python -m asyncbench OVERRIDES...` in the repository root; return the finished process."""
    environment = {**os.environ, **(env or {})}
    environment.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "asyncbench", *overrides], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def read_run(run_dir):
    """run.json and the rows of episodes.csv and progress.csv of one run directory."""
    run_dir = Path(run_dir)
    return json.loads((run_dir / "run.json").read_text()), read_csv(run_dir / "episodes.csv"), read_csv(run_dir / "progress.csv")


def first_solved_at(episodes, threshold, window=100):
    """T at which the mean return of `window` consecutive episodes first reaches `threshold`."""
    returns = [float(row["return"]) for row in episodes]
    for end in range(window, len(returns) + 1):
        if sum(returns[end - window:end]) / window >= threshold:
            return int(episodes[end - 1]["T"])
    return None


@pytest.fixture
def app():
    return run_app
