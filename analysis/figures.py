"""The paper's figures from a sweep's runs, with the paper's axes and aggregation, drawn with seaborn.

Curves are the mean training return of each run's last 100 episodes, as progress.csv and the status
line report it. Where the paper averages the best k of N runs (Figure 1: best 5 of 50; Figures 3, 4,
S9, S10: best 3), the top rows of the figure do the same (best by final score) and the legend says so;
the rows below show every run, with the mean and its 95% bootstrap confidence band.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, and no GUI toolkit to import

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis import paper  # noqa: E402
from analysis.loading import Results  # noqa: E402
from analysis.statistics import best_k_runs, curves_on_grid, evaluation_means, smoothed_returns  # noqa: E402
from analysis.tables import MILESTONES  # noqa: E402
from asyncbench.atari import catalogue  # noqa: E402

CURVE_WINDOW = 100  # episodes per point of a training curve, as progress.csv's return_mean_100
FORMATS = ("png", "svg")
ALL_RUNS = "all runs: mean, 95% CI"


@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    draw: Callable[[Results], plt.Figure]


def _score_curves(results: Results, x: str, hue: str, rows: list[str], k: int) -> plt.Figure:
    """Score against `x` per game (columns), one curve per `hue`; the best-k view above the all-runs view."""
    points = smoothed_returns(results.episodes, CURVE_WINDOW)
    points = points.assign(hours=points["wall_seconds"] / 3600, epochs=points["T"] / paper.EPOCH_FRAMES)
    keys = [*rows, "game", hue]
    grid = pd.concat([curves_on_grid(game_points, x, keys) for _, game_points in points.groupby("game")], ignore_index=True)
    best = best_k_runs(results.runs, keys, k)
    best_view = f"mean of best {k} of N"
    averaged = (grid[grid["run"].isin(best["run"])].groupby([*keys, x], dropna=False)["score"].mean()
                .reset_index().assign(view=best_view))
    data = pd.concat([averaged, grid.assign(view=ALL_RUNS)], ignore_index=True)
    data["row"] = data[[*rows, "view"]].astype(str).agg("\n".join, axis=1)
    hue_order = [str(value) for value in sorted(results.runs[hue].unique())]
    data[hue] = data[hue].astype(str)
    counts = best["n_runs"]
    plot = sns.relplot(data=data, x=x, y="score", hue=hue, hue_order=hue_order, row="row", col="game", kind="line",
                       errorbar=("ci", 95), n_boot=200, seed=0, height=2.6, aspect=1.35,
                       facet_kws={"sharey": False, "sharex": "col"})
    plot.set_titles("{col_name} | {row_name}", size=8)
    plot.set_axis_labels({"hours": "training time (hours)", "epochs": "training epochs (4M frames)"}[x], "score")
    sns.move_legend(plot, "upper left", bbox_to_anchor=(1.0, 0.95), frameon=False, title=(
        f"{hue}\n(best-k rows: mean of the {k} runs\nwith the best final score of N = "
        f"{counts.min()}{'' if counts.min() == counts.max() else f'-{counts.max()}'})"))
    return plot.figure


def _with_most_threads(results: Results) -> Results:
    """Only the runs with the most threads of each method and game: Figure 1 shows the paper's 16-thread
    runs, and pooling thread counts would mix learning speeds."""
    most = results.runs.groupby(["algorithm", "game"])["threads"].transform("max")
    kept = results.runs.loc[results.runs["threads"] == most, "run"]
    return replace(results, runs=results.runs[results.runs["run"].isin(kept)],
                   episodes=results.episodes[results.episodes["run"].isin(kept)])


def _final_score_vs_lr(results: Results) -> plt.Figure:
    runs = results.runs.assign(threads=results.runs["threads"].astype(str))
    plot = sns.relplot(data=runs, x="lr", y="final_score", hue="threads", col="game", row="algorithm", kind="scatter",
                       height=2.6, aspect=1.2, facet_kws={"sharey": False})
    plot.set(xscale="log")
    plot.set_axis_labels("learning rate (log)", "final score")
    return plot.figure


def _final_score_vs_rank(results: Results) -> plt.Figure:
    keys = ["algorithm", "game", "optimizer"]
    runs = results.runs.assign(rank=results.runs.groupby(keys)["final_score"].rank(ascending=False, method="first"))
    plot = sns.relplot(data=runs, x="rank", y="final_score", hue="optimizer", col="game", row="algorithm", kind="line",
                       marker="o", errorbar=None, height=2.6, aspect=1.2, facet_kws={"sharey": False})
    plot.set_axis_labels("model rank (by final score)", "final score")
    return plot.figure


def _scaling(results: Results) -> plt.Figure:
    """Frames/s against threads per game and method, with the ideal line (n times the fewest threads' rate)
    and the paper's Table 2 speedup applied to this machine's 1-thread rate."""
    games = sorted(results.runs["game"].unique())
    figure, axes = plt.subplots(1, len(games), figsize=(3.6 * len(games), 3.2), squeeze=False)
    palette = dict(zip(sorted(results.runs["algorithm"].unique()), sns.color_palette()))
    for axis, game in zip(axes[0], games):
        runs = results.runs[results.runs["game"] == game]
        sns.lineplot(data=runs, x="threads", y="frames_per_second", hue="algorithm", palette=palette, marker="o",
                     errorbar=("ci", 95), n_boot=200, seed=0, ax=axis)
        for algorithm, group in runs.groupby("algorithm"):
            rates = group.groupby("threads")["frames_per_second"].mean()
            threads = np.array(sorted(rates.index))
            axis.plot(threads, rates[threads[0]] * threads / threads[0], ls="--", color=palette[algorithm],
                      alpha=0.6, label=f"{algorithm}: ideal")
            claimed = [(n, paper.table2_speedup(algorithm, n)) for n in threads]
            claimed = [(n, factor) for n, factor in claimed if factor is not None]
            if 1 in rates.index and claimed:
                axis.plot(*zip(*[(n, rates[1] * factor) for n, factor in claimed]), ls=":", color=palette[algorithm],
                          label=f"{algorithm}: paper Table 2 x 1-thread rate")
        axis.set(title=game, xlabel="threads", ylabel="frames/s", xticks=sorted(runs["threads"].unique()))
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def _evaluation_curves(results: Results) -> plt.Figure:
    """Each run's periodic evaluation means (lines) and final evaluation (star) against frames and against
    wall-clock minutes, one row per game. Runs are coloured by results root when there are several (e.g.
    a fast preset beside the paper's settings), else each run its own colour up to 10 runs, else by
    algorithm. Random and human no-op baselines and the game's milestones are drawn across."""
    hue = "root" if results.runs["root"].nunique() > 1 else "run" if len(results.runs) <= 10 else "algorithm"
    columns = list(dict.fromkeys(["run", "game", hue]))
    means = evaluation_means(results.runs, results.evaluations)
    curves = {"periodic": means[means["final"] == False], "final": means[means["final"] == True]}  # noqa: E712
    for kind, points in curves.items():
        points = points.merge(results.runs[columns], on="run")
        points[hue] = points[hue].astype(str)
        curves[kind] = points.assign(M_frames=points["T"] / 1e6, minutes=points["wall_seconds"] / 60)
    hue_order = sorted(results.runs[hue].astype(str).unique())
    palette = dict(zip(hue_order, sns.color_palette(n_colors=len(hue_order))))
    games = sorted(set(curves["periodic"]["game"]) | set(curves["final"]["game"])) or ["(no evaluations)"]
    figure, axes = plt.subplots(len(games), 2, figsize=(11, 3.4 * len(games)), squeeze=False)
    for (by_frames, by_time), game in zip(axes, games):
        periodic, final = (curves[kind][curves[kind]["game"] == game] for kind in ("periodic", "final"))
        for axis, x, label in ((by_frames, "M_frames", "frames (millions; the paper's epoch is 4M)"),
                               (by_time, "minutes", "wall-clock (minutes after start-up)")):
            if len(periodic):
                sns.lineplot(data=periodic, x=x, y="score", hue=hue, hue_order=hue_order, palette=palette, units="run",
                             estimator=None, marker="o", markersize=3, lw=1, ax=axis)
            if len(final):
                sns.scatterplot(data=final, x=x, y="score", hue=hue, hue_order=hue_order, palette=palette, marker="*",
                                s=140, legend=False, ax=axis)
            for milestone in MILESTONES.get(game, ()):
                axis.axhline(milestone, color="grey", lw=0.6, ls=":")
            if game in catalogue():
                scores = catalogue()[game].scores
                axis.axhline(scores["random_noop"], color="black", lw=0.8, ls="--", label="random (no-op starts)")
                axis.axhline(scores["human_noop"], color="tab:red", lw=0.8, ls="--", label="human (no-op starts)")
            axis.set(title=game, xlabel=label, ylabel="evaluation mean score")
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


FIGURES = {
    "figure1": Figure("Figure 1: score against training time, per method",
                      "Mean training return (last 100 episodes) against wall-clock hours after start-up, for the "
                      "runs with the most threads of each method and game (the paper's: 16).",
                      lambda results: _score_curves(_with_most_threads(results), "hours", "algorithm", [], k=5)),
    "figure3": Figure("Figures 3 and S9: score against training epochs, per thread count",
                      "One epoch is 4 million frames over all threads; data efficiency per thread count.",
                      lambda results: _score_curves(results, "epochs", "threads", ["algorithm"], k=3)),
    "figure4": Figure("Figures 4 and S10: score against training time, per thread count",
                      "The same runs as Figure 3 against wall-clock hours: more threads should learn faster.",
                      lambda results: _score_curves(results, "hours", "threads", ["algorithm"], k=3)),
    "figure2": Figure("Figures 2 and S11: final score against learning rate",
                      "One point per run; the paper draws learning rates from LogUniform(1e-4, 1e-2).",
                      _final_score_vs_lr),
    "figure_s5": Figure("Figure S5: final score against model rank, per optimizer",
                        "Runs sorted by final score, best first; a flatter curve is a more robust optimizer.",
                        _final_score_vs_rank),
    "evaluations": Figure("Evaluation score against frames and against wall-clock, per run",
                          "The evaluator's mean score (no-op starts) of each periodic evaluation, one line per run, and "
                          "of its final evaluation (star); dotted: the game's milestones (Pong: -10, 0, +18). The paper shows Pong only as curves "
                          "(Figures 1, 3, 4) and publishes no numbers for them.",
                          _evaluation_curves),
    "scaling": Figure("Scaling: frames/s against threads",
                      "Dashed: ideal linear scaling from the fewest threads; dotted: the paper's Table 2 speedups "
                      "(time to a score, not frames/s) applied to this machine's 1-thread rate.",
                      _scaling),
}


def save_figure(name: str, results: Results, directory: Path) -> list[Path]:
    """Draw FIGURES[name] and write it as PNG and SVG into `directory`; return the files."""
    with sns.axes_style("whitegrid"):
        figure = FIGURES[name].draw(results)
    paths = []
    try:
        for extension in FORMATS:
            paths.append(directory / f"{name}.{extension}")
            figure.savefig(paths[-1], dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)
    return paths
