"""Figures S7 and S8 from runs of the Gaussian-policy methods: the runs they show and the numbers they plot."""

import numpy as np
import pytest

from analysis.control_figures import TOP_RUNS, top_run_curves
from analysis.figures import FIGURES, save_figure
from analysis.loading import load_results
from tests.synthetic_runs import write_run

GAMES = ("dmc_cartpole_swingup", "dmc_cheetah_run")


@pytest.fixture
def control_sweep(tmp_path):
    """6 runs per task of a3c_continuous_lstm, run i with learning rate 10^-(5 - i/2), every training episode
    returning 10 i and a final score of 10 i; and one A3C run on CartPole, which neither figure shows."""
    for game in GAMES:
        for i in range(6):
            episodes = [(1000 * (k + 1), 360.0 * (k + 1), 10.0 * i) for k in range(10)]
            write_run(tmp_path / f"{game}-{i}", algorithm="a3c_continuous_lstm", game=game, seed=i, lr=10 ** -(5 - i / 2),
                      drawn_lr=True, episodes=episodes, final_scores=[10.0 * i])
    write_run(tmp_path / "cartpole", algorithm="a3c", game="cartpole", episodes=[(1000, 1.0, 500.0)], final_scores=[500.0])
    return load_results([tmp_path])


def test_figure_s8_averages_the_top_5_runs_of_each_task_with_their_spread(control_sweep):
    grid, counts = top_run_curves(control_sweep, window=100)
    assert set(grid["game"]) == set(GAMES) and set(grid["algorithm"]) == {"a3c_continuous_lstm"}
    assert counts.tolist() == [6, 6]
    for _, task in grid.groupby("game"):
        assert task["run"].nunique() == TOP_RUNS  # the run returning 0 is the one left out
        at_each_hour = task.groupby("hours")["score"]
        # The best 5 return 10, 20, 30, 40 and 50: their mean 30, their band 10 to 50, from 0.1 to 1 hour.
        assert np.allclose(at_each_hour.mean(), 30.0) and np.allclose(at_each_hour.min(), 10.0)
        assert np.allclose(at_each_hour.max(), 50.0)
        assert task["hours"].min() >= 0.1 and task["hours"].max() <= 1.0


@pytest.mark.parametrize("name", ["figure_s7", "figure_s8"])
def test_figures_s7_and_s8_render_from_continuous_control_runs(control_sweep, tmp_path, name):
    assert FIGURES[name].left_out(control_sweep) is None
    png, _ = save_figure(name, control_sweep, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

