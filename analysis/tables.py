"""The paper's tables from a sweep's runs, next to the paper's own numbers.

Table 2: speedup with n threads; Table S3: per-game final scores; Table 1: mean and median
human-normalised scores. Every number comes with the count of runs behind it, and scores across seeds
with their interquartile mean and its stratified bootstrap confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis import paper
from analysis.loading import Results
from analysis.statistics import evaluation_means, iqm_with_ci, smoothed_returns
from asyncbench.atari import catalogue, human_normalized, mean_and_median

SPEEDUP_WINDOW = 100  # episodes in the training-return mean that must reach the reference score, as progress.csv's
# Evaluation scores whose first crossing the milestones table times, per game. Pong: halfway from -21 to
# even, even, and +18 (experiment=pong_fast's evaluation.stop_score; 21 is the maximum).
MILESTONES = {"pong": (-10.0, 0.0, 18.0)}
LAG_COLUMNS = ("policy_lag_mean", "policy_lag_p95")  # progress.csv's policy lag columns, where the trainer measures it


def reference_scores(results: Results, given: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Table 2's reference score of each game run, the episodes its training-return mean is taken over,
    and where the score comes from.

    The score is, first, the one given (`--reference-score`); else the runs' own `stop_return`, where the
    game's runs that stop at one all stop at the same (they were sized to stop there, so no higher score
    can be reached; runs without one, e.g. fixed-budget ones beside them, are timed to it too); else
    asyncbench's table (analysis/data/reference_scores.csv). The window is the `stop_return_episodes` of
    those runs (of all the game's runs where none stops) where they share one, else SPEEDUP_WINDOW. A game
    with none of the three has no row.
    """
    given, shipped = dict(given or {}), paper.reference_scores()
    rows = []
    for game, runs in results.runs.groupby("game"):
        stop = runs["stop_return"].dropna().unique() if "stop_return" in runs else []
        stopping = runs[runs["stop_return"].notna()] if len(stop) else runs
        windows = stopping["stop_return_episodes"].unique() if "stop_return_episodes" in runs else []
        window = int(windows[0]) if len(windows) == 1 else SPEEDUP_WINDOW
        if game in given:
            score, source = given[game], "--reference-score"
        elif len(stop) == 1:
            score, source = float(stop[0]), "the runs' stop_return"
        elif game in shipped:
            score, source = shipped[game], "analysis/data/reference_scores.csv"
        else:
            continue
        rows.append({"game": game, "reference_score": score, "window": window, "source": source})
    return pd.DataFrame(rows, columns=["game", "reference_score", "window", "source"])


def one_core_per_thread(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs (rows with `threads` and `usable_cores`) whose every thread had a core of its own, as in
    Table 2: with more threads than cores the threads share them, so their seconds time the host, not the
    method. Wall-clock claims and figures take these; frames (Figure 3) compare all runs."""
    return runs[runs["threads"] <= runs["usable_cores"]]


def time_to_reference(results: Results, reference_scores: Mapping[str, float],
                      window: int | Mapping[str, int] = SPEEDUP_WINDOW) -> pd.DataFrame:
    """Per run: the wall-clock seconds after start-up (`seconds_to_reference`) and the frames
    (`frames_to_reference`) at which the mean return of its last `window` training episodes (one number,
    or one per game) first reached its game's reference score (NaN: never reached, or no reference)."""
    pieces = []
    for game, episodes in results.episodes.groupby("game"):
        size = window if isinstance(window, int) else window.get(game, SPEEDUP_WINDOW)
        pieces.append(smoothed_returns(episodes, size, min_episodes=size))
    curves = pd.concat(pieces) if pieces else results.episodes.assign(score=np.nan)
    reached = curves[curves["score"] >= curves["game"].map(reference_scores)]
    first = reached.groupby("run", observed=True)[["wall_seconds", "T"]].first()  # the first crossing, in T order
    runs = results.runs[["run", *dict.fromkeys(["game", "threads", *results.conditions()])]].copy()
    runs["reference_score"] = runs["game"].map(reference_scores)
    runs["seconds_to_reference"] = runs["run"].map(first["wall_seconds"])
    runs["frames_to_reference"] = runs["run"].map(first["T"])
    return runs


def speedup(results: Results, reference_scores: Mapping[str, float],
            window: int | Mapping[str, int] = SPEEDUP_WINDOW) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: time to the reference score with 1 thread / with n threads.

    Returns:
        per_game: per condition, game and thread count: `runs`, `reached` (how many reached the score),
            the mean `seconds_to_reference` of those that did, and `speedup` against the 1-thread runs of
            the same condition and game (NaN where either side has no run that reached it).
        summary: per condition and thread count: the mean speedup over the games that have one, `games`
            (how many), and the paper's Table 2 value for that method and thread count.
    """
    times = time_to_reference(results, reference_scores, window)
    condition = results.conditions("threads", "game")
    keys = [*condition, "game", "threads"]
    per_game = times.groupby(keys, dropna=False).agg(
        reference_score=("reference_score", "first"), runs=("run", "size"),
        reached=("seconds_to_reference", "count"), seconds_to_reference=("seconds_to_reference", "mean")).reset_index()
    one_thread = per_game.loc[per_game["threads"] == 1, [*condition, "game", "seconds_to_reference"]]
    per_game = per_game.merge(one_thread.rename(columns={"seconds_to_reference": "one_thread_seconds"}),
                              on=[*condition, "game"], how="left")
    per_game["speedup"] = per_game.pop("one_thread_seconds") / per_game["seconds_to_reference"]
    summary = per_game.groupby([*condition, "threads"], dropna=False).agg(
        speedup=("speedup", "mean"), games=("speedup", "count"), runs=("runs", "sum")).reset_index()
    if "algorithm" in summary:
        summary["paper_speedup"] = [paper.table2_speedup(algorithm, threads)
                                    for algorithm, threads in zip(summary["algorithm"], summary["threads"])]
    return per_game, summary


def policy_lag(results: Results) -> pd.DataFrame | None:
    """Per method, game and thread count: runs, the mean policy lag and its 95th percentile (the run's
    summary where it has one, else the mean over its progress rows); None where no run measured it."""
    per_run = results.runs[["run", "algorithm", "game", "threads"]].set_index("run")
    found = False
    for column in LAG_COLUMNS:
        from_summary = results.runs.set_index("run")[column] if column in results.runs else pd.Series(dtype=float)
        from_progress = (results.progress.groupby("run", observed=True)[column].mean()
                         if column in results.progress else pd.Series(dtype=float))
        per_run[column] = from_summary.reindex(per_run.index).fillna(from_progress.reindex(per_run.index))
        found |= per_run[column].notna().any()
    if not found:
        return None
    measured = per_run.dropna(subset=list(LAG_COLUMNS), how="all")
    return (measured.groupby(["algorithm", "game", "threads"]).agg(runs=("policy_lag_mean", "size"),
                                                                   policy_lag_mean=("policy_lag_mean", "mean"),
                                                                   policy_lag_p95=("policy_lag_p95", "mean")).reset_index())


def evaluation_milestones(results: Results, milestones: Mapping[str, tuple[float, ...]] = MILESTONES) -> pd.DataFrame:
    """Per run of a game with milestones: the frames and wall-clock minutes at which the evaluator's mean
    score first reached each milestone (blank: never), and the run's best evaluation mean.

    Every complete evaluation counts, the final one too (the weights at the stop, played once training
    has ended). Time is when that evaluation's last episode ended, so it includes the evaluation's own
    latency; a final evaluation after a wall-clock budget ends after the budget.
    """
    means = evaluation_means(results.runs, results.evaluations)
    rows = []
    for run in results.runs[results.runs["game"].isin(milestones)].itertuples(index=False):
        run_means = means[means["run"] == run.run].sort_values("wall_seconds")
        row = {"root": run.root, "algorithm": run.algorithm, "seed": run.seed, "run": run.run,
               "evaluations": len(run_means), "best_mean": run_means["score"].max() if len(run_means) else math.nan}
        for milestone in milestones[run.game]:
            reached = run_means[run_means["score"] >= milestone]
            first = reached.iloc[0] if len(reached) else None
            row[f"M_frames_to_{milestone:+g}"] = first["T"] / 1e6 if first is not None else math.nan
            row[f"minutes_to_{milestone:+g}"] = first["wall_seconds"] / 60 if first is not None else math.nan
        row["minutes_trained"] = run.wall_seconds / 60
        rows.append(row)
    return pd.DataFrame(rows)


def final_scores(results: Results) -> pd.DataFrame:
    """Table S3: per game and condition, the final score over runs (mean and IQM with its 95% CI) and the
    paper's Table S3 columns for that game (empty for a game the paper did not play)."""
    keys = ["game", *results.conditions("game")]
    rows = []
    for key, group in results.runs.groupby(keys, dropna=False):
        scores = group["final_score"].dropna().to_numpy()
        middle, low, high = iqm_with_ci([scores])
        rows.append({**dict(zip(keys, key)), "runs": len(scores), "mean": scores.mean() if len(scores) else np.nan,
                     "iqm": middle, "iqm_ci_low": low, "iqm_ci_high": high,
                     "score_from": ", ".join(sorted(group["final_score_source"].dropna().unique()))})
    table = pd.DataFrame(rows)
    published = pd.DataFrame([{"game": game, **{column: catalogue()[game].scores[column] for column in paper.TABLE_S3_COLUMNS}}
                              for game in table["game"].unique() if game in catalogue()],
                             columns=["game", *paper.TABLE_S3_COLUMNS])
    return table.merge(published, on="game", how="left")


def human_normalised_summary(results: Results) -> pd.DataFrame:
    """Table 1: mean and median human-normalised score over the Atari games run, per condition, and the
    IQM over all runs with a bootstrap stratified by game; then the paper's methods recomputed from
    Table S3 on the same games, with both Video Pinball conventions, and the paper's printed Table 1.

    Our runs are evaluated from no-op starts and normalised with the no-op baselines; the paper's rows
    use human starts and the human-starts baselines (see asyncbench/data/README.md).
    """
    atari = results.runs[results.runs["game"].isin(catalogue()) & results.runs["final_score"].notna()]
    if atari.empty:
        return pd.DataFrame(columns=["method", "games", "runs", "baselines", "mean_pct", "median_pct", "iqm_pct"])
    atari = atari.assign(normalised=[human_normalized(game, score) for game, score in zip(atari["game"], atari["final_score"])])
    condition = results.conditions("game")
    rows = []
    for key, group in (atari.groupby(condition, dropna=False) if condition else [((), atari)]):
        per_game = group.groupby("game")["final_score"].mean().to_dict()
        mean, median = mean_and_median(per_game)
        middle, low, high = iqm_with_ci([game_runs.to_numpy() for _, game_runs in group.groupby("game")["normalised"]])
        label = ", ".join(f"{column}={value}" for column, value in zip(condition, key)) or "these runs"
        rows.append({"method": f"asyncbench: {label}", "games": len(per_game), "runs": len(group), "baselines": "no-op starts",
                     "mean_pct": mean, "median_pct": median, "iqm_pct": middle, "iqm_ci_low": low, "iqm_ci_high": high})
    games = sorted(atari["game"].unique())
    for column in paper.TABLE_S3_COLUMNS:
        scores = {game: catalogue()[game].scores[column] for game in games if catalogue()[game].scores[column] is not None}
        if not scores:
            continue
        for random_zero in (False, True):
            mean, median = mean_and_median(scores, baselines="human_starts", video_pinball_random_zero=random_zero)
            convention = "Video Pinball as score / human" if random_zero else "standard"
            rows.append({"method": f"paper Table S3 {column}, same games", "games": len(scores), "runs": math.nan,
                         "baselines": f"human starts, {convention}", "mean_pct": mean, "median_pct": median})
    for _, printed in paper.table1().iterrows():
        rows.append({"method": f"paper Table 1: {printed['method']}, {printed['training_time_printed']}",
                     "games": printed["n_games"], "runs": math.nan, "baselines": "human starts, as printed",
                     "mean_pct": printed["mean_pct"], "median_pct": printed["median_pct"]})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table; numbers to `digits` significant digits, missing values as empty cells."""
    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
