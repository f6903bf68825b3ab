"""The paper's claims as checks: each one re-measured on the runs, with a 95% bootstrap interval, the runs
behind it, the task and budget, and a verdict by one rule (`verdict`).

Every claim is put as "a quantity lies above its no-effect value" (a speedup above 1, a difference above
0), so that one rule decides them all. Quantities that compare conditions resample each compared
condition (a game's runs at one thread count, one optimizer's runs) on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paper, tables
from analysis.loading import Results
from analysis.statistics import BOOTSTRAP_RESAMPLES, bootstrap_interval
from asyncbench.atari import catalogue

CONSISTENT, INCONSISTENT, INCONCLUSIVE, NOT_MEASURED = "consistent", "inconsistent", "inconclusive", "not measured"
TABLE_2_THREADS = (2, 4, 8, 16)
ONE_STEP_METHODS = ("onestep_q", "onestep_sarsa")  # Section 5.1: "the one-step methods ... require less data"
S5_METHODS = ("nstep_q", "a3c")
S5_OTHERS = {"rmsprop": "per-thread RMSProp", "momentum_sgd": "momentum SGD"}  # each compared with shared_rmsprop
NEAR_BEST = 0.25  # a learning rate is good when its final score is within this share of the span below the best
ROBUST_SHARE = 0.5  # Figure 2's claim, put as a number: more than this share of the sampled rates is good
# What Table 2 and Figures 3 and 4 compare across, besides the thread counts: games, each with its own reference
# score, which its runs stop at (stop_return over stop_return_episodes); a game's runs are no other condition.
ACROSS_GAMES = ("game", "stop_return", "stop_return_episodes")


def verdict(low: float, high: float, null: float, paper_value: float | None = None, measured: bool = True) -> str:
    """The verdict on a claim that a quantity lies above `null` (its no-effect value; where the paper prints
    the quantity, at `paper_value`), from our 95% interval [low, high]:

    - not measured: the runs lack a condition the claim compares (e.g. no 1-thread runs);
    - inconclusive: the interval is undefined (a compared condition has fewer than two runs that count);
    - inconsistent: high < paper_value, or high < null where the paper prints no number: the interval
      lies below the paper's number (or below no effect);
    - consistent: otherwise, if low > null: an effect in the claimed direction, and the paper's number
      not excluded from below (an interval above it is consistent: more than the paper claims);
    - inconclusive: otherwise: the interval holds the no-effect value and reaches the paper's number:
      too wide to tell.
    """
    if not measured:
        return NOT_MEASURED
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if high < (null if paper_value is None else paper_value):
        return INCONSISTENT
    return CONSISTENT if low > null else INCONCLUSIVE


@dataclass
class Claim:
    """One claim and what the runs say about it."""

    claim: str
    source: str  # the paper's figure or table
    quantity: str  # what `ours` measures
    null: float
    paper: str = ""  # the paper's number as it prints it, where it prints one
    paper_value: float | None = None  # the paper's number in the units of `ours`, where the rule uses it
    ours: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    runs: str = "0"
    task: str = ""
    note: str = ""
    measured: bool = True
    run_ids: tuple[str, ...] = field(default=(), repr=False)  # the runs the estimate is computed from

    @property
    def verdict(self) -> str:
        return verdict(self.ci_low, self.ci_high, self.null, self.paper_value, self.measured)


def measure_claims(results: Results, references: pd.DataFrame) -> list[Claim]:
    """Every claim, measured on `results`; `references` as tables.reference_scores gives them."""
    scores = dict(zip(references["game"], references["reference_score"]))
    times = tables.time_to_reference(results.subset(results.runs.loc[results.runs["game"].isin(scores), "run"]),
                                     scores, dict(zip(references["game"], references["window"])))
    budget = [column for column in ("frames", "max_seconds", "stop_return", "usable_cores", "wall_seconds")
              if column not in times]
    times = times.merge(results.runs[["run", *budget]], on="run")
    wall_clock = tables.one_core_per_thread(times)
    return [*_table2(results, wall_clock), *_against_threads(results, times, "frames"),
            *_against_threads(results, wall_clock, "seconds"), *_learning_rates(results), *_optimizers(results),
            *_lstm(results)]


def _table2(results: Results, times: pd.DataFrame) -> list[Claim]:
    """Table 2: time to the reference score with 1 thread / with n threads, per game, averaged over games."""
    claims = []
    for label, runs in _conditions(results, times, ("threads", *ACROSS_GAMES)):
        algorithm = label["algorithm"]
        for threads in sorted(set(runs["threads"]) - {1}):
            pairs = [[game_runs.loc[game_runs["threads"] == count, "seconds_to_reference"] for count in (1, threads)]
                     for _, game_runs in runs.groupby("game") if {1, threads} <= set(game_runs["threads"])]
            if not pairs:
                continue
            compared = runs[runs["threads"].isin([1, threads]) & runs["game"].isin(_games_with(runs, {1, threads}))]
            claims.append(_table2_claim(algorithm, threads, _over_games(pairs, [_ratio] * len(pairs)),
                                        _reached(compared), _task(compared, label),
                                        _unreached(compared, threads),
                                        run_ids=tuple(compared["run"])))
    expected = [(algorithm, threads) for algorithm in paper.TABLE_2_METHODS for threads in TABLE_2_THREADS]
    missing = [_table2_claim(algorithm, threads, None, "0", "", "no 1-thread and n-thread runs of one condition on a game "
                             "with a reference score, each thread on a core of its own") for algorithm, threads in expected]
    return _in_order(claims, missing)


def _table2_title(algorithm: str, threads: int) -> str:
    return f"{_method(algorithm)}: {threads} threads reach the reference score faster than 1"


def _table2_claim(algorithm: str, threads: int, estimate: tuple[float, float, float] | None, runs: str, task: str,
                  note: str = "", run_ids: tuple[str, ...] = ()) -> Claim:
    printed = paper.table2_speedup(algorithm, threads)
    # A method the table leaves out (A3C LSTM, e.g. on Pong) is held to no effect alone, as the rule says.
    shown = (f"{printed:g}x (7 Atari games, 16 cores)" if printed else
             "" if algorithm in paper.TABLE_2_METHODS else "none: not a method of Table 2")
    return _filled(Claim(_table2_title(algorithm, threads), "Table 2",
                         "speedup: mean time to the reference score with 1 thread / with n threads, mean over games", 1.0,
                         shown, printed, runs=runs, task=task,
                         note=note, run_ids=run_ids), estimate)


def _against_threads(results: Results, times: pd.DataFrame, measure: str) -> list[Claim]:
    """Figure 3/S9 (frames) and Figure 4/S10 (seconds): how the frames or wall-clock seconds to the
    reference score fall as threads double: minus the least-squares slope of log2(mean per thread count)
    on log2(threads), per game, averaged over games; 1 means they halve with each doubling."""
    if measure == "frames":
        methods, source, verb = ONE_STEP_METHODS, "Figure 3/S9", "needs fewer frames to the reference score"
        which_runs = ""
    else:
        methods, source, verb = tuple(paper.TABLE_2_METHODS), "Figure 4/S10", "reaches the reference score sooner in wall-clock"
        which_runs = ", each thread on a core of its own"
    quantity = (f"-slope of log2(mean {measure} to the reference score) on log2(threads), mean over games "
                f"(1: {measure} halve per doubling of threads)")
    claims = []
    for label, runs in _conditions(results, times, ("threads", *ACROSS_GAMES)):
        if label["algorithm"] not in methods:
            continue
        per_game = [(game, game_runs) for game, game_runs in runs.groupby("game") if game_runs["threads"].nunique() >= 2]
        if not per_game:
            continue
        cells, slopes = [], []
        for _, game_runs in per_game:
            counts = sorted(game_runs["threads"].unique())
            cells.append([game_runs.loc[game_runs["threads"] == count, f"{measure}_to_reference"] for count in counts])
            slopes.append(_falling_slope(np.log2(counts)))
        compared = runs[runs["game"].isin([game for game, _ in per_game])]
        claims.append(_filled(Claim(f"{_method(label['algorithm'])} {verb} with more threads", source, quantity, 0.0,
                                    runs=_reached(compared), task=_task(compared, label), note=_unreached(compared),
                                    run_ids=tuple(compared["run"])),
                              _over_games(cells, slopes)))
    return _in_order(claims, _unmeasured([f"{_method(method)} {verb} with more threads" for method in methods], source,
                                         quantity, 0.0, "no runs of one condition at two or more thread counts on a game "
                                                        f"with a reference score{which_runs}"))


def _learning_rates(results: Results) -> list[Claim]:
    """Figure 2/S11: the share of the sampled learning rates whose final score is good (within NEAR_BEST
    of the span from the worst run to the best), per method, game and condition."""
    quantity = (f"share of the runs (sampled learning rates) whose final score >= best - {NEAR_BEST:g} x (best - worst), "
                f"best and worst of all the row's runs; the claim: more than {ROBUST_SHARE:g}")
    claims = []
    for label, runs in _conditions(results, _drawn_rates(results), ("lr_set",)):
        if runs["lr"].nunique() < 2:
            continue
        scores = runs["final_score"].dropna().to_numpy(dtype=float)
        # the bar is set once from all the runs: recomputed per resample, a resample of only failed runs would
        # call every one of them good
        good = (scores >= scores.max() - NEAR_BEST * np.ptp(scores)).astype(float)
        low, high = bootstrap_interval([good], _mean)
        claims.append(Claim(_robust_title(label["algorithm"]), "Figure 2/S11", quantity, ROBUST_SHARE, ours=float(good.mean()),
                            ci_low=low, ci_high=high, runs=str(len(scores)), task=_task(runs, label),
                            note=f"{runs['lr'].nunique()} learning rates, {runs['lr'].min():.2g} to {runs['lr'].max():.2g}",
                            run_ids=tuple(runs["run"])))
    return _in_order(claims, _unmeasured([_robust_title(method) for method in paper.TABLE_2_METHODS], "Figure 2/S11",
                                         quantity, ROBUST_SHARE, "no method and game with runs at two or more learning rates"))


def _robust_title(algorithm: str) -> str:
    return f"{_method(algorithm)} is robust to the learning rate"


def _optimizers(results: Results) -> list[Claim]:
    """Figure S5: shared RMSProp against per-thread RMSProp and momentum SGD, by the area under each one's
    sorted final scores over its N runs (so the mean), scores scaled to [0, 1] by the worst and best run
    of the two optimizers compared."""
    quantity = ("normalised area under the sorted final scores, shared RMSProp minus the other "
                "(area / N, scores scaled to [0, 1] by the worst and best run of both)")
    claims = []
    for label, runs in _conditions(results, _drawn_rates(results), ("optimizer", "lr_set")):
        by_optimizer = {name: group["final_score"].dropna().to_numpy(dtype=float) for name, group in runs.groupby("optimizer")}
        for other in S5_OTHERS:
            if "shared_rmsprop" not in by_optimizer or other not in by_optimizer:
                continue
            samples = [by_optimizer["shared_rmsprop"], by_optimizer[other]]
            compared = runs[runs["optimizer"].isin(["shared_rmsprop", other])]
            claims.append(_filled(Claim(_optimizer_title(label["algorithm"], other), "Figure S5", quantity, 0.0,
                                        runs=f"{len(samples[0])} + {len(samples[1])}", task=_task(compared, label),
                                        run_ids=tuple(compared["run"])),
                                  (float(_normalised_area_difference(*samples)), *bootstrap_interval(samples, _normalised_area_difference))))
    titles = [_optimizer_title(method, other) for method in S5_METHODS for other in S5_OTHERS]
    return _in_order(claims, _unmeasured(titles, "Figure S5", quantity, 0.0,
                                         "no runs of shared RMSProp and this optimizer in one condition"))


def _optimizer_title(algorithm: str, other: str) -> str:
    return f"{_method(algorithm)}: shared RMSProp is more robust than {S5_OTHERS[other]}"


def _lstm(results: Results) -> list[Claim]:
    """Table S3 / Table 1: A3C LSTM's final score minus A3C FF's, per game and condition (same budget)."""
    title, quantity = "A3C LSTM scores higher than A3C FF", "mean final score, LSTM minus FF"
    table1 = paper.table1().set_index(["method", "days"])
    lstm, ff = table1.loc[("A3C, LSTM", 4)], table1.loc[("A3C, FF", 4)]
    printed = (f"Table 1 (57 games, 4 days): mean {lstm['mean_pct']:g}% vs {ff['mean_pct']:g}%, median "
               f"{lstm['median_pct']:g}% vs {ff['median_pct']:g}% human-normalised")
    claims = []
    for label, runs in _conditions(results, results.runs, ("algorithm", "model")):
        scores = {name: group["final_score"].dropna().to_numpy(dtype=float) for name, group in runs.groupby("algorithm")}
        if not {"a3c", "a3c_lstm"} <= set(scores):
            continue
        samples = [scores["a3c_lstm"], scores["a3c"]]
        game = label["game"]
        per_game = (f"; Table S3 {game}: {catalogue()[game].scores['a3c_lstm']:g} vs "
                    f"{catalogue()[game].scores['a3c_ff_4days']:g}" if game in catalogue() else "")
        compared = runs[runs["algorithm"].isin(["a3c", "a3c_lstm"])]
        claims.append(_filled(Claim(title, "Table S3/Table 1", quantity, 0.0, printed + per_game,
                                    runs=f"{len(samples[0])} + {len(samples[1])}", task=_task(compared, label),
                                    run_ids=tuple(compared["run"])),
                              (float(_difference(*samples)), *bootstrap_interval(samples, _difference))))
    return _in_order(claims, _unmeasured([title], "Table S3/Table 1", quantity, 0.0,
                                         "no runs of A3C LSTM and A3C FF in one condition and game", printed))


# The statistics, each vectorised over a batch of bootstrap resamples along the leading axes.

def _ratio(means: list[np.ndarray]) -> np.ndarray:
    return means[0] / means[1]


def _falling_slope(x: np.ndarray) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Minus the least-squares slope of log2(means) on x."""
    centred = x - x.mean()

    def slope(means: list[np.ndarray]) -> np.ndarray:
        y = np.log2(np.stack(means, axis=-1))
        return -(y * centred).sum(axis=-1) / (centred ** 2).sum()
    return slope


def _over_games(cells: list[list[pd.Series]], per_game: list[Callable[[list[np.ndarray]], np.ndarray]],
                center: Callable[..., np.ndarray] = np.mean) -> tuple[float, float, float] | None:
    """The mean over games of per_game[g](the `center`, mean or median, of each of game g's cells), with its
    interval; each cell (a game's runs at one thread count) resampled on its own. None where a cell has no
    run that counts."""
    cells = [[cell.dropna().to_numpy(dtype=float) for cell in game] for game in cells]
    if any(len(cell) == 0 for game in cells for cell in game):
        return None
    sizes = np.cumsum([0, *map(len, cells)])
    flat = [cell for game in cells for cell in game]

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        means = [center(sample, axis=axis) for sample in samples]
        return np.mean([function(means[start:end]) for function, start, end in zip(per_game, sizes, sizes[1:])], axis=0)

    return float(statistic(*flat)), *bootstrap_interval(flat, statistic)


def _mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return values.mean(axis=axis)


def _normalised_area_difference(shared: np.ndarray, other: np.ndarray, axis: int = -1) -> np.ndarray:
    both = np.concatenate([shared, other], axis=axis)
    span = np.ptp(both, axis=axis)
    return np.divide(shared.mean(axis=axis) - other.mean(axis=axis), span, out=np.zeros_like(span, dtype=float),
                     where=span > 0)


def _difference(first: np.ndarray, second: np.ndarray, axis: int = -1) -> np.ndarray:
    return _mean(first, axis) - _mean(second, axis)


# Rows, labels and task descriptions

def _conditions(results: Results, runs: pd.DataFrame, compared: tuple[str, ...]) -> Iterator[tuple[dict, pd.DataFrame]]:
    """The runs of each condition and game, the `compared` settings (and seeds and drawn learning rates) left free."""
    keys = [key for key in dict.fromkeys(["algorithm", "game", *results.conditions()]) if key not in compared]
    for values, group in runs.groupby(keys, dropna=False):
        yield dict(zip(keys, values)), group


def _drawn_rates(results: Results) -> pd.DataFrame:
    """The runs whose learning rate was drawn (lr_sampling): Figures 2 and S5 are over sampled rates, so a
    run at a rate set by hand (a pilot, another claim's runs) is no sample of them."""
    return results.runs[results.runs["lr_set"].isna()]


def _games_with(runs: pd.DataFrame, threads: set[int]) -> list[str]:
    return [game for game, game_runs in runs.groupby("game") if threads <= set(game_runs["threads"])]


def _filled(claim: Claim, estimate: tuple[float, float, float] | None) -> Claim:
    """The claim with our estimate; without one (a compared condition has no run that reached the reference
    score) it stays blank and inconclusive, unless nothing was run for it (`runs` "0")."""
    if estimate is not None:
        claim.ours, claim.ci_low, claim.ci_high = estimate
    elif claim.runs == "0":
        claim.measured = False
    else:
        claim.note = "a compared condition has no run that reached the reference score"
    return claim


def _unmeasured(titles: list[str], source: str, quantity: str, null: float, why: str, printed: str = "") -> list[Claim]:
    return [Claim(title, source, quantity, null, printed, note=why, measured=False) for title in titles]


def _in_order(measured: list[Claim], expected: list[Claim]) -> list[Claim]:
    """The claims in `expected`'s order: the measured rows of each (one per condition and game), else the
    expected row, not measured; then the measured rows `expected` does not name (e.g. 3 threads)."""
    rows = []
    for claim in expected:
        rows += [row for row in measured if row.claim == claim.claim] or [claim]
    named = {claim.claim for claim in expected}
    return rows + [row for row in measured if row.claim not in named]


def _method(algorithm: str) -> str:
    return paper.TABLE_2_METHODS.get(algorithm, {"a3c_lstm": "A3C LSTM"}.get(algorithm, algorithm))


def _reached(runs: pd.DataFrame) -> str:
    return f"{runs['seconds_to_reference'].notna().sum()} of {len(runs)} reached"


def _median_speedup(runs: pd.DataFrame, threads: int) -> tuple[float, float, float] | None:
    """Table 2's speedup from medians, censoring-aware: a run that ended short of the reference score took at
    least the seconds it ran, and counts at those. Where fewer than half of a cell's runs ended short, and
    each ran longer than any of the cell reached the score, its median is the Kaplan-Meier median."""
    seconds = runs["seconds_to_reference"].fillna(runs["wall_seconds"])
    pairs = [[seconds[game_runs.index[game_runs["threads"] == count]] for count in (1, threads)]
             for _, game_runs in runs.groupby("game")]
    return _over_games(pairs, [_ratio] * len(pairs), center=np.median)


def _unreached(runs: pd.DataFrame, table2_threads: int | None = None) -> str:
    """Which runs ended short of the reference score: the means leave them out, though each would have
    taken longer than it ran, so a condition with such runs looks faster than it was; and, for a Table 2
    row (1 against `table2_threads`), the speedup from medians that counts them (`_median_speedup`)."""
    missed = runs.loc[runs["seconds_to_reference"].isna(), "threads"].value_counts().sort_index()
    if missed.empty:
        return ""
    counts = ", ".join(f"{count} at {threads} thread{'s' if threads > 1 else ''}" for threads, count in missed.items())
    note = f"ended short of the reference score, left out of the means (which they would raise): {counts}"
    median_speedup = None if table2_threads is None else _median_speedup(runs, table2_threads)
    if median_speedup is not None:
        note += ("; counting each at the seconds it ran (it took at least that long), the speedup from median times is "
                 f"{median_speedup[0]:.2f} [{median_speedup[1]:.2f}, {median_speedup[2]:.2f}]")
    return note


def _task(runs: pd.DataFrame, label: Mapping[str, object]) -> str:
    """The games, thread counts, budget and cores the runs were measured on, and their other settings."""
    parts = [", ".join(sorted(runs["game"].unique())), "threads " + ", ".join(map(str, sorted(runs["threads"].unique())))]
    parts.append(f"{runs['frames'].max():,.0f} frames")
    if runs["max_seconds"].notna().any():
        parts.append(f"{runs['max_seconds'].max():g} s")
    if runs["stop_return"].notna().any():
        parts.append(f"stop_return {_values(runs['stop_return'])}")
    parts.append(f"{_values(runs['usable_cores'])} cores")
    shown = ("algorithm", "game", "threads", "frames", "max_seconds", "stop_return")
    parts += [f"{key}={value}" for key, value in label.items()
              if key not in shown and not (isinstance(value, float) and math.isnan(value))]
    return "; ".join(parts)


def _values(column: pd.Series) -> str:
    return ", ".join(f"{value:g}" for value in sorted(column.dropna().unique())) or "?"
