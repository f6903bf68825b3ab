"""A run's running totals: what the records of its workers and its evaluator add up to.

They go into progress.csv, the status line and run.json's summary (`asyncbench.run_log`), and into
each checkpoint, so that a resumed run counts on from where it stopped.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from asyncbench.checkpoint import Checkpoint
from asyncbench.config import RECENT_EPISODES
from asyncbench.messages import Episode, EvaluationEpisode, UpdateStats
from asyncbench.policy_lag import LagCounts


class Totals:
    """What the records add up to: episodes, updates, the recent returns, each evaluation's scores,
    the policy lags of the whole run, and the methods' statistics and the policy lags since the last
    progress row."""

    def __init__(self, stat_names: tuple[str, ...], checkpoint: Checkpoint | None):
        self.recent_returns: deque[float] = deque(maxlen=RECENT_EPISODES)
        self.episodes = self.updates = 0
        self.evaluation_scores: dict[tuple[int, bool], list[float]] = {}  # (T, final) -> scores
        self.stat_sums = dict.fromkeys(stat_names, 0.0)
        self.stat_updates = 0
        self.policy_lags, self.recent_policy_lags = LagCounts(), LagCounts()
        if checkpoint is not None:
            totals = checkpoint.totals
            self.episodes, self.updates = totals["episodes"], totals["updates"]
            self.policy_lags.merge(totals.get("policy_lags", ()))  # a checkpoint written before lags were counted has none
            self.recent_returns.extend(totals["recent_returns"])
            self.evaluation_scores = {(T, final): scores for T, final, scores in totals["evaluation_scores"]}

    def add_episode(self, record: Episode) -> None:
        self.episodes += 1
        self.recent_returns.append(record.episode_return)

    def add_updates(self, record: UpdateStats) -> None:
        self.updates += record.updates
        self.stat_updates += record.updates
        for name, value in record.sums.items():
            self.stat_sums[name] += value
        self.policy_lags.merge(record.policy_lags)
        self.recent_policy_lags.merge(record.policy_lags)

    def add_evaluation(self, record: EvaluationEpisode) -> list[float]:
        """Add the episode's score to its evaluation's; return that evaluation's scores so far."""
        scores = self.evaluation_scores.setdefault((record.frames, record.final), [])
        scores.append(record.score)
        return scores

    def mean_recent_return(self) -> float | None:
        return sum(self.recent_returns) / len(self.recent_returns) if self.recent_returns else None

    def take_stat_means(self) -> dict[str, float | None]:
        """Over the updates since the last call: the policy lag's mean and 95th percentile, and each
        statistic's mean (None with no update); then start again."""
        lags = self.recent_policy_lags
        means = {"policy_lag_mean": lags.mean(), "policy_lag_p95": lags.quantile(0.95),
                 **{name: total / self.stat_updates if self.stat_updates else None for name, total in self.stat_sums.items()}}
        self.stat_sums = dict.fromkeys(self.stat_sums, 0.0)
        self.stat_updates, self.recent_policy_lags = 0, LagCounts()
        return means

    def evaluation_summary(self) -> dict[str, Any]:
        """Mean score of the last periodic evaluation and of the final one (None where there was none)."""
        def mean_of(final: bool) -> tuple[int | None, float | None]:
            snapshots = sorted(frames for frames, is_final in self.evaluation_scores if is_final == final)
            if not snapshots:
                return None, None
            scores = self.evaluation_scores[(snapshots[-1], final)]
            return snapshots[-1], sum(scores) / len(scores)

        (last_T, last), (_, final) = mean_of(False), mean_of(True)
        return {"last_evaluation_T": last_T, "last_evaluation_mean": last, "final_evaluation_mean": final}

    def for_checkpoint(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "updates": self.updates,
            "policy_lags": list(self.policy_lags.counts),
            "recent_returns": list(self.recent_returns),
            "evaluation_scores": [[T, final, scores] for (T, final), scores in self.evaluation_scores.items()],
        }
