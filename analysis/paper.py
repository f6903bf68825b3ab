"""The paper's published numbers that the analysis compares with (analysis/data/, sources in its README)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

# Table S3's score columns in asyncbench/data/atari57_scores.csv, in the table's order
TABLE_S3_COLUMNS = ("dqn", "gorila", "double_dqn", "dueling", "prioritized", "a3c_ff_1day", "a3c_ff_4days", "a3c_lstm")
# asyncbench's algorithm= names as Table 2 prints them
TABLE_2_METHODS = {"onestep_q": "1-step Q", "onestep_sarsa": "1-step SARSA", "nstep_q": "n-step Q", "a3c": "A3C"}
EPOCH_FRAMES = 4_000_000  # Figure 3: "an epoch corresponds to four million frames (across all threads)"
PAPER_THREADS = 16  # S8: 16 actor-learner threads on 16 CPU cores


def _read(name: str) -> pd.DataFrame:
    with resources.files("analysis.data").joinpath(name).open() as file:
        return pd.read_csv(file, comment="#")


@cache
def table1() -> pd.DataFrame:
    """Table 1 as printed: method, training time, mean and median human-normalised % (human starts), games."""
    return _read("table1_summary.csv")


@cache
def _table2() -> pd.DataFrame:
    return _read("table2_speedup.csv").set_index("method")


def table2_speedup(algorithm: str, threads: int) -> float | None:
    """Table 2's speedup for an asyncbench algorithm name and thread count (None where the paper has none)."""
    method, column = TABLE_2_METHODS.get(algorithm), f"threads_{threads}"
    table = _table2()
    return float(table.at[method, column]) if method in table.index and column in table.columns else None


@cache
def reference_scores() -> dict[str, float]:
    """Default reference scores for Table 2 by game: asyncbench's choices, each explained in the file."""
    table = _read("reference_scores.csv")
    return dict(zip(table["game"], table["reference_score"].astype(float)))
