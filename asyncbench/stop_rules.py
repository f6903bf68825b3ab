"""When training ends: the budgets, and the two early stops. Pure functions of what the run has seen.

A run trains until T reaches `frames` or its training time reaches `max_seconds` (the paper's runs
end on the frame budget, S8); it ends earlier once the mean return of its last `stop_return_episodes`
training episodes reaches `stop_return`, or once a periodic evaluation's mean score reaches
`evaluation.stop_score` (time-to-solve measurements).
"""

from __future__ import annotations

from collections.abc import Sequence


def frame_budget_spent(frames: int, budget: int) -> bool:
    """T has reached the frame budget (`frames`)."""
    return frames >= budget


def time_budget_spent(seconds: float, max_seconds: float | None) -> bool:
    """`seconds` of training have reached `max_seconds` (None: no wall-clock budget)."""
    return bool(max_seconds) and seconds >= max_seconds


def returns_reached(recent_returns: Sequence[float], window: int, stop_return: float | None) -> float | None:
    """The mean return of the last `window` training episodes if it reaches `stop_return`, else None
    (also while fewer than `window` episodes have ended, or with no `stop_return`)."""
    if stop_return is None or len(recent_returns) < window:
        return None
    mean_return = sum(list(recent_returns)[-window:]) / window
    return mean_return if mean_return >= stop_return else None


def score_reached(scores: Sequence[float], episodes: int, stop_score: float | None) -> float | None:
    """The mean score of an evaluation if all its `episodes` have been played and it reaches
    `stop_score`, else None."""
    if stop_score is None or len(scores) != episodes:
        return None
    mean_score = sum(scores) / len(scores)
    return mean_score if mean_score >= stop_score else None
