"""Aggregates across runs: the interquartile mean with stratified bootstrap confidence intervals
(Agarwal et al. 2021, as rliable computes them), the paper's "mean of the best k of N runs", and
smoothed score curves on a common axis."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The interquartile mean: the mean of the middle 50% of the values (25% trimmed from each end)."""
    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_with_ci(strata: list[np.ndarray], seed: int = 0) -> tuple[float, float, float]:
    """IQM of all values pooled, with a percentile CI from a bootstrap that resamples within each stratum.

    Each stratum (a game's runs) keeps its size in every resample, as rliable's stratified bootstrap
    does. A stratum of one run cannot be resampled and enters every resample as it is. With fewer than
    two runs in every stratum the interval is NaN; with identical values it is that value.
    """
    strata = [np.asarray(values, dtype=float) for values in strata if len(values)]
    pooled = np.concatenate(strata) if strata else np.array([])
    if not len(pooled):
        return np.nan, np.nan, np.nan
    resampled = [values for values in strata if len(values) >= 2]
    fixed = np.concatenate([values for values in strata if len(values) < 2] or [np.array([])])

    def pooled_iqm(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        batch = samples[0].shape[:-1]
        return iqm(np.concatenate([*samples, np.broadcast_to(fixed, (*batch, len(fixed)))], axis=-1), axis=-1)

    low, high = bootstrap_interval(resampled, pooled_iqm, seed) if resampled else (np.nan, np.nan)
    return float(iqm(pooled)), low, high


def bootstrap_interval(samples: list[np.ndarray], statistic: Callable[..., np.ndarray], seed: int = 0) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of statistic(*samples), each sample resampled on its own
    (stratified: a sample is a game's runs, or one thread count's).

    `statistic(*samples, axis=-1)` must accept a batch of resamples along the leading axes. With a sample
    of fewer than two values there is nothing to resample and the interval is NaN; where every sample is
    constant the interval is the statistic's value.
    """
    samples = [np.asarray(values, dtype=float) for values in samples]
    if not samples or any(len(values) < 2 for values in samples):
        return np.nan, np.nan
    if all(np.ptp(values) == 0 for values in samples):
        point = float(statistic(*samples, axis=-1))
        return point, point
    with warnings.catch_warnings():
        # constant resamples (every run of a sample scored the same) are expected here, not a problem
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(samples, statistic, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=CONFIDENCE,
                                 method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def best_k_runs(runs: pd.DataFrame, by: list[str], k: int) -> pd.DataFrame:
    """The k runs with the highest final score in each group of `by` (all of them where there are fewer),
    with `n_runs`, the group's size N, for the legend's "best k of N"."""
    ranked = runs.assign(n_runs=runs.groupby(by, dropna=False)["run"].transform("size"))
    ranked = ranked.sort_values("final_score", ascending=False, na_position="last")
    return ranked.groupby(by, dropna=False, sort=False).head(k)


def smoothed_returns(episodes: pd.DataFrame, window: int, min_episodes: int = 1) -> pd.DataFrame:
    """Each training episode with `score`, the mean return of the run's last `window` episodes in the
    order they ended (as progress.csv's return_mean_100); NaN until `min_episodes` have ended."""
    ordered = episodes.sort_values(["run", "T", "wall_seconds"], kind="stable")
    score = (ordered.groupby("run", observed=True, sort=False)["return"]
             .rolling(window, min_periods=min_episodes).mean().reset_index(level=0, drop=True))
    return ordered.assign(score=score)


def curves_on_grid(points: pd.DataFrame, x: str, keys: list[str], grid_points: int = 60) -> pd.DataFrame:
    """Each run's (x, score) curve interpolated on one grid shared by all runs, within the run's own x range.

    Averaging runs point by point needs a shared x; outside a run's range it contributes nothing.
    """
    grid = np.linspace(0.0, points[x].max(), grid_points)
    pieces = []
    for run, curve in points.dropna(subset=["score"]).groupby("run", observed=True, sort=False):
        inside = grid[(grid >= curve[x].iloc[0]) & (grid <= curve[x].iloc[-1])]
        if not len(inside):
            continue
        piece = pd.DataFrame({x: inside, "score": np.interp(inside, curve[x], curve["score"])})
        piece["run"] = run
        for key in keys:
            piece[key] = curve[key].iloc[0]
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=[x, "score", "run", *keys])


def evaluation_means(runs: pd.DataFrame, evaluations: pd.DataFrame) -> pd.DataFrame:
    """One row per complete evaluation of each run, periodic or of the final weights (`final`): `T` (the
    snapshot's frames), `score` (the mean over its episodes) and `wall_seconds`, when its last episode
    ended: when the score was known.

    An evaluation cut short (fewer episodes than `evaluation.episodes`: by the end of training, or a
    final evaluation by its timeout) is left out.
    """
    means = (evaluations.groupby(["run", "T", "final"], observed=True)
             .agg(score=("score", "mean"), episodes=("score", "size"), wall_seconds=("wall_seconds", "max"))
             .reset_index())
    wanted = means["run"].map(runs.set_index("run")["evaluation.episodes"])
    return means[means["episodes"] >= wanted].reset_index(drop=True)
