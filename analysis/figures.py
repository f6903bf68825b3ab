"""The paper's figures from a sweep's runs, with the paper's axes and aggregation, drawn with seaborn.

Curves are the mean training return of each run's last 100 episodes, as progress.csv and the status
line report it. Where the paper averages the best k of N runs (Figure 1: best 5 of 50; Figures 3, 4,
S9, S10: best 3), the top rows of the figure do the same (best by final score) for the groups of at
least k runs, and the legend says so; the rows below show every run, with the mean and its 95% bootstrap
confidence band.

Every figure's title names the paper's figure or table it reproduces and the task it was measured on;
the score curves mark each game's reference score (Table 2's); a figure the runs cannot support (one
learning rate for Figure 2) is left out, and `Figure.left_out` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, and no GUI toolkit to import

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis import paper, tables  # noqa: E402
from analysis.control_figures import CONTROL_FIGURES, final_score_vs_lr  # noqa: E402
from analysis.loading import Results  # noqa: E402
from analysis.statistics import best_k_runs, curves_on_grid, evaluation_means, smoothed_returns  # noqa: E402
from asyncbench.atari import catalogue  # noqa: E402

CURVE_WINDOW = 100  # episodes per point of a training curve, as progress.csv's return_mean_100
FORMATS = ("png", "svg")
ALL_RUNS = "all runs: mean, 95% CI"


@dataclass(frozen=True)
class Figure:
    """A figure of the report: `draw(results, references)` draws it (references: tables.reference_scores's
    table); `left_out(results)` says in one line why the runs cannot support it, or None where they can."""

    title: str
    caption: str
    draw: Callable[[Results, pd.DataFrame], plt.Figure]
    left_out: Callable[[Results], str | None] = lambda results: None


def _score_curves(results: Results, references: pd.DataFrame, x: str, hue: str, rows: list[str], k: int) -> plt.Figure:
    """Score against `x` per game (columns), one curve per `hue`; the best-k view (of the groups with at
    least k runs) above the all-runs view; each game's reference score as a dashed line."""
    points = smoothed_returns(results.episodes, CURVE_WINDOW)
    points = points.assign(hours=points["wall_seconds"] / 3600, epochs=points["T"] / paper.EPOCH_FRAMES)
    keys = [*rows, "game", hue]
    grid = pd.concat([curves_on_grid(game_points, x, keys) for _, game_points in points.groupby("game")], ignore_index=True)
    best = best_k_runs(results.runs, keys, k)
    best = best[best["n_runs"] >= k]  # "best k of N" with N < k would be every run under another name
    averaged = (grid[grid["run"].isin(best["run"])].groupby([*keys, x], dropna=False)["score"].mean()
                .reset_index().assign(view=f"mean of best {k} of N"))
    data = pd.concat([averaged, grid.assign(view=ALL_RUNS)], ignore_index=True)
    data["row"] = data[[*rows, "view"]].astype(str).agg("\n".join, axis=1)
    hue_order = [str(value) for value in sorted(results.runs[hue].unique())]
    data[hue] = data[hue].astype(str)
    plot = sns.relplot(data=data, x=x, y="score", hue=hue, hue_order=hue_order, row="row", col="game", kind="line",
                       errorbar=("ci", 95), n_boot=200, seed=0, height=2.6, aspect=1.35,
                       facet_kws={"sharey": False, "sharex": "col"})
    plot.set_titles("{col_name} | {row_name}", size=8)
    plot.set_axis_labels({"hours": "training time (hours)", "epochs": "training epochs (4M frames)"}[x], "score")
    scores = dict(zip(references["game"], references["reference_score"]))
    for (_, game), axis in plot.axes_dict.items():
        if game in scores:
            axis.axhline(scores[game], color="grey", lw=0.8, ls="--", label=f"reference score {scores[game]:g}")
    counts = best["n_runs"]
    best_k = (f"best-k rows: mean of the {k} runs\nwith the best final score of N = "
              f"{counts.min()}{'' if counts.min() == counts.max() else f'-{counts.max()}'}" if len(best) else
              f"no group has the {k} runs\na best-{k} view needs: all runs shown")
    sns.move_legend(plot, "upper left", bbox_to_anchor=(1.0, 0.95), frameon=False,
                    title=f"{hue}\n({best_k};\ndashed: reference score)")
    return plot.figure


def _with_most_threads(results: Results) -> Results:
    """Only the runs with the most threads of each method and game: Figure 1 shows the paper's 16-thread
    runs, and pooling thread counts would mix learning speeds."""
    most = results.runs.groupby(["algorithm", "game"])["threads"].transform("max")
    return results.subset(results.runs.loc[results.runs["threads"] == most, "run"])


def _with_several_thread_counts(results: Results) -> Results:
    """Only the methods and games run at two or more thread counts: Figures 3 and 4 compare thread counts,
    and a panel with one would show nothing of that (and every such panel makes the figure larger)."""
    compared = results.runs.groupby(["algorithm", "game"])["threads"].transform("nunique") >= 2
    return results.subset(results.runs.loc[compared, "run"])


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
            for milestone in tables.MILESTONES.get(game, ()):
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


def _table2_speedup(results: Results, references: pd.DataFrame) -> plt.Figure:
    """Table 2 drawn: the speedup to the reference score against threads per method, each game's (small
    points) and their mean (solid line), beside the paper's Table 2 (crosses, dotted), in the method's colour."""
    per_game, summary = tables.speedup(results, dict(zip(references["game"], references["reference_score"])),
                                       dict(zip(references["game"], references["window"])))
    # the paper's methods, whether or not ours reached the reference score, and any other with a speedup
    summary = summary[summary["algorithm"].isin(paper.TABLE_2_METHODS) | (summary.groupby("algorithm")["games"].transform("max") > 0)]
    figure, axis = plt.subplots(figsize=(5.5, 4))
    palette = dict(zip(sorted(summary["algorithm"].unique()), sns.color_palette()))
    for algorithm, rows in summary.groupby("algorithm"):
        axis.plot(rows["threads"], rows["speedup"], marker="o", color=palette[algorithm], label=f"{algorithm}: ours, mean over games")
        games = per_game[per_game["algorithm"] == algorithm]
        axis.scatter(games["threads"], games["speedup"], s=12, color=palette[algorithm], alpha=0.5)
        printed = [(n, paper.table2_speedup(algorithm, n)) for n in sorted(rows["threads"])]
        printed = [(n, factor) for n, factor in printed if factor is not None]
        if printed:
            axis.plot(*zip(*printed), ls=":", marker="x", markersize=8, color=palette[algorithm],
                      label=f"{algorithm}: paper Table 2")
    threads = sorted(summary["threads"].unique())
    axis.plot(threads, threads, color="grey", lw=0.6, ls="--", label="linear")
    axis.set(xlabel="threads", ylabel="speedup (time to reference score, 1 thread / n)", xticks=threads)
    shown = references[references["game"].isin(results.runs["game"])]
    axis.set_title("reference scores: " + ", ".join(f"{game} {score:g} ({source}, mean of {window} episodes)" for
                                                   game, score, window, source in shown.itertuples(index=False)), fontsize=7)
    axis.legend(fontsize=7)
    return figure


def _policy_lag(results: Results) -> plt.Figure:
    lag = tables.policy_lag(results)
    figure, axis = plt.subplots(figsize=(5.5, 4))
    sns.lineplot(data=lag, x="threads", y="policy_lag_mean", hue="algorithm", style="game", marker="o", ax=axis)
    if lag["policy_lag_p95"].notna().any():
        sns.lineplot(data=lag, x="threads", y="policy_lag_p95", hue="algorithm", units="game", estimator=None,
                     marker="^", linestyle=":", legend=False, ax=axis)
    axis.set(xlabel="threads", ylabel="policy lag (updates by other workers)", xticks=sorted(lag["threads"].unique()))
    return figure


def _lstm_against_feed_forward(results: Results) -> plt.Figure:
    """Final scores of A3C FF and A3C LSTM per game: one point per run, the mean with its 95% interval."""
    runs = results.runs[results.runs["algorithm"].isin(["a3c", "a3c_lstm"])]
    plot = sns.catplot(data=runs, x="algorithm", y="final_score", col="game", kind="point", order=["a3c", "a3c_lstm"],
                       errorbar=("ci", 95), n_boot=200, seed=0, height=3, aspect=0.8, sharey=False, color="black")
    for (game, axis) in plot.axes_dict.items():
        sns.stripplot(data=runs[runs["game"] == game], x="algorithm", y="final_score", order=["a3c", "a3c_lstm"],
                      alpha=0.5, ax=axis)
    plot.set_axis_labels("", "final score")
    return plot.figure


def _lstm_left_out(results: Results) -> str | None:
    games = results.runs.groupby("game")["algorithm"].agg(lambda methods: {"a3c", "a3c_lstm"} <= set(methods))
    return None if games.any() else "no game was run with both A3C FF and A3C LSTM"


def _needs(column: str, what: str) -> Callable[[Results], str | None]:
    """The reason a figure comparing values of `column` is left out when no method and game has two of them."""
    def left_out(results: Results) -> str | None:
        if (results.runs.groupby(["algorithm", "game"])[column].nunique() >= 2).any():
            return None
        values = ", ".join(map(str, sorted(results.runs[column].dropna().unique()))) or "none"
        return f"every method and game was run at one {what} ({values}); the figure compares two or more"
    return left_out


def _table2_left_out(results: Results) -> str | None:
    references = tables.reference_scores(results)
    runs = results.runs[results.runs["game"].isin(references["game"])]
    compared = runs.groupby(["algorithm", "game"])["threads"].agg(lambda threads: 1 in set(threads) and len(set(threads)) > 1)
    if compared.any():
        return None
    return "no method and game with a reference score was run at 1 thread and at more"


def _lag_left_out(results: Results) -> str | None:
    return None if tables.policy_lag(results) is not None else "policy lag not measured: no run records it"


FIGURES = {
    "figure1": Figure("Figure 1: score against training time, per method",
                      "Mean training return (last 100 episodes) against wall-clock hours after start-up, for the "
                      "runs with the most threads of each method and game (the paper's: 16).",
                      lambda results, references: _score_curves(_with_most_threads(results), references, "hours",
                                                                "algorithm", [], k=5)),
    "figure3": Figure("Figures 3 and S9: score against training epochs, per thread count",
                      "One epoch is 4 million frames over all threads; data efficiency per thread count. Frames, not "
                      "seconds, are compared, so more threads than cores is fair here. Only the methods and games run "
                      "at two or more thread counts are drawn.",
                      lambda results, references: _score_curves(_with_several_thread_counts(results), references, "epochs",
                                                                "threads", ["algorithm"], k=3),
                      _needs("threads", "thread count")),
    "figure4": Figure("Figures 4 and S10: score against training time, per thread count",
                      "Figure 3's runs that had a core per thread, against wall-clock hours: more threads should learn "
                      "faster (threads that share cores time the host).",
                      lambda results, references: _score_curves(
                          _with_several_thread_counts(results.subset(tables.one_core_per_thread(results.runs)["run"])),
                          references, "hours", "threads", ["algorithm"], k=3),
                      _needs("threads", "thread count")),
    "table2": Figure("Table 2: speedup to the reference score against threads",
                     "Ours per game (points) and their mean (solid line), the paper's Table 2 (crosses, dotted; 7 Atari games, "
                     "16 cores) and linear speedup (grey); the reference scores are in the figure's title.",
                     _table2_speedup, _table2_left_out),
    "figure2": Figure("Figures 2 and S11: final score against learning rate",
                      "One point per run; the paper draws learning rates from LogUniform(1e-4, 1e-2).",
                      lambda results, references: final_score_vs_lr(results), _needs("lr", "learning rate")),
    "figure_s5": Figure("Figure S5: final score against model rank, per optimizer",
                        "Runs sorted by final score, best first; a flatter curve is a more robust optimizer.",
                        lambda results, references: _final_score_vs_rank(results), _needs("optimizer", "optimizer")),
    "evaluations": Figure("Evaluation score against frames and against wall-clock, per run",
                          "The evaluator's mean score (no-op starts) of each periodic evaluation, one line per run, and "
                          "of its final evaluation (star); dotted: the game's milestones (Pong: -10, 0, +18). The paper "
                          "shows Pong only as curves (Figures 1, 3, 4) and publishes no numbers for them.",
                          lambda results, references: _evaluation_curves(results)),
    "scaling": Figure("Scaling: frames/s against threads (beside Table 2)",
                      "Dashed: ideal linear scaling from the fewest threads; dotted: the paper's Table 2 speedups "
                      "(time to a score, not frames/s) applied to this machine's 1-thread rate.",
                      lambda results, references: _scaling(results), _needs("threads", "thread count")),
    "lstm": Figure("Table S3 and Table 1: A3C LSTM against A3C FF",
                   "Final score of each run (points) and the mean with its 95% bootstrap interval (black), per game, "
                   "at the same frames.", lambda results, references: _lstm_against_feed_forward(results), _lstm_left_out),
    "policy_lag": Figure("Policy lag against threads (no figure in the paper)",
                         "Mean (circles, solid) and 95th percentile (triangles, dotted) of the updates by other workers between a "
                         "worker's copy of the parameters and its own update, averaged over runs.",
                         lambda results, references: _policy_lag(results), _lag_left_out),
}
FIGURES |= {name: Figure(title, caption, lambda results, references, draw=draw: draw(results, CURVE_WINDOW), left_out)
            for name, (title, caption, draw, left_out) in CONTROL_FIGURES.items()}


def task(results: Results) -> str:
    """One line naming what the runs measured: games, methods, thread counts, frames per run, runs."""
    runs = results.runs
    return (f"on {', '.join(sorted(runs['game'].unique()))}; {', '.join(sorted(runs['algorithm'].unique()))}; "
            f"threads {', '.join(map(str, sorted(runs['threads'].unique())))}; up to {runs['frames_done'].max():,.0f} "
            f"frames per run; {len(runs)} runs")


def draw_figure(name: str, results: Results, references: pd.DataFrame | None = None) -> plt.Figure:
    """FIGURES[name] drawn, titled with the paper's figure it reproduces and the task (see `task`)."""
    references = tables.reference_scores(results) if references is None else references
    with sns.axes_style("whitegrid"):
        figure = FIGURES[name].draw(results, references)
    _title_above_panels(figure, f"{FIGURES[name].title}\n{task(results)}")
    return figure


def _title_above_panels(figure: plt.Figure, title: str) -> None:
    """The figure's title, its bottom 4 points above the highest panel title or axis (a fixed height would
    overlap the panel titles of a one-row figure)."""
    renderer = figure.canvas.get_renderer()
    to_figure = figure.transFigure.inverted()
    top = max(to_figure.transform(axis.get_tightbbox(renderer).corners())[:, 1].max() for axis in figure.axes)
    figure.suptitle(title, y=top + 4 / 72 / figure.get_figheight(), va="bottom", fontsize=9)


def save_figure(name: str, results: Results, directory: Path, references: pd.DataFrame | None = None) -> list[Path]:
    """Draw FIGURES[name] (see draw_figure) and write it as PNG and SVG into `directory`; return the files."""
    figure = draw_figure(name, results, references)
    paths = []
    try:
        for extension in FORMATS:
            paths.append(directory / f"{name}.{extension}")
            figure.savefig(paths[-1], dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)
    return paths
