"""Figures S7 and S8, the paper's continuous-control results (Section 5.3, S9), and the plot of final score
against learning rate that Figure S7 shares with Figure 2.

Both figures read the runs of the methods with a Gaussian policy (`continuous_actions`), one panel per task:
Figure S7 the final score of every run against its learning rate (the paper draws them from
LogUniform(1e-5, 1e-1)); Figure S8 the score against wall-clock hours of the 5 runs with the best final
score per task and method, their mean as a line and their spread (lowest to highest) as a band, as the
paper's caption ("top 5 experiments"). The paper gives both as plots, not numbers.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.loading import Results
from analysis.statistics import best_k_runs, curves_on_grid, smoothed_returns
from asyncbench.algorithms import ALGORITHMS

TOP_RUNS = 5  # Figure S8's caption: "top 5 experiments"
CONTROL_ALGORITHMS = tuple(name for name, method in ALGORITHMS.items() if method.continuous_actions)


def final_score_vs_lr(results: Results) -> plt.Figure:
    """One point per run: its final score against its learning rate (log axis), per game and method."""
    runs = results.runs.assign(threads=results.runs["threads"].astype(str))
    plot = sns.relplot(data=runs, x="lr", y="final_score", hue="threads", col="game", row="algorithm", kind="scatter",
                       height=2.6, aspect=1.2, facet_kws={"sharey": False})
    plot.set(xscale="log")
    plot.set_titles("{col_name}\n{row_name}", size=8)  # one line overran a panel this narrow
    plot.set_axis_labels("learning rate (log)", "final score")
    return plot.figure


def control_runs(results: Results) -> Results:
    """Only the runs of a method with a Gaussian policy."""
    return results.subset(results.runs.loc[results.runs["algorithm"].isin(CONTROL_ALGORITHMS), "run"])


def top_run_curves(results: Results, window: int) -> tuple[pd.DataFrame, pd.Series]:
    """The training curves (mean return of the last `window` episodes against hours) of the best `TOP_RUNS`
    runs by final score per task and method, on one grid per task; and N, the runs each was the best of."""
    runs = control_runs(results)
    best = best_k_runs(runs.runs, ["algorithm", "game"], TOP_RUNS)
    points = smoothed_returns(runs.episodes[runs.episodes["run"].isin(best["run"])], window)
    points = points.assign(hours=points["wall_seconds"] / 3600)
    grid = pd.concat([curves_on_grid(game_points, "hours", ["algorithm", "game"])
                      for _, game_points in points.groupby("game")], ignore_index=True)
    return grid, best.groupby(["algorithm", "game"])["n_runs"].first()


def top_runs_over_hours(results: Results, window: int) -> plt.Figure:
    """Figure S8: per task, the mean of `top_run_curves` against wall-clock hours, with the band from their
    lowest to their highest."""
    grid, counts = top_run_curves(results, window)
    plot = sns.relplot(data=grid, x="hours", y="score", hue="algorithm", col="game", col_wrap=min(4, grid["game"].nunique()),
                       kind="line", estimator="mean", errorbar=("pi", 100), height=2.6, aspect=1.3,
                       facet_kws={"sharey": False, "sharex": False})
    plot.set_axis_labels("training time (hours)", "score")
    sns.move_legend(plot, "upper left", bbox_to_anchor=(1.0, 0.95), frameon=False,
                    title=f"algorithm\n(mean of the best {TOP_RUNS} of N = "
                          f"{counts.min()}{'' if counts.min() == counts.max() else f'-{counts.max()}'} runs;\n"
                          "band: lowest to highest)")
    return plot.figure


def s7_left_out(results: Results) -> str | None:
    runs = control_runs(results).runs
    if runs.empty:
        return f"no run of a continuous-control method ({', '.join(CONTROL_ALGORITHMS)})"
    if (runs.groupby(["algorithm", "game"])["lr"].nunique() >= 2).any():
        return None
    return "every continuous-control method and task was run at one learning rate; the figure compares two or more"


def s8_left_out(results: Results) -> str | None:
    runs = control_runs(results).runs
    if runs.empty:
        return f"no run of a continuous-control method ({', '.join(CONTROL_ALGORITHMS)})"
    return None if np.isfinite(runs["final_score"]).any() else "no continuous-control run has a final score"


# name -> (title, caption, draw(results, window), left_out(results)): figures.FIGURES adds them.
CONTROL_FIGURES = {
    "figure_s7": ("Figure S7: continuous control, final score against learning rate",
                  "One point per run of a Gaussian-policy method, per task; the paper draws learning rates from "
                  "LogUniform(1e-5, 1e-1) and shows its MuJoCo tasks as plots, without numbers.",
                  lambda results, window: final_score_vs_lr(control_runs(results)), s7_left_out),
    "figure_s8": ("Figure S8: continuous control, score against training time",
                  f"Mean training return (last 100 episodes) of the {TOP_RUNS} runs with the best final score per task "
                  "and method against wall-clock hours: their mean (line) and the range from lowest to highest (band), "
                  "as the paper's top-5 curves; the paper gives no numbers for them.",
                  top_runs_over_hours, s8_left_out),
}
