"""Policy lag: how many updates of the shared parameters by other actor-learners landed between a
worker's copy theta' <- theta and its own update, which applies a gradient computed at theta' to a
theta that has moved on by that many Hogwild steps (Section 4; the paper does not measure it).

With a core per worker the lag stays near threads - 1 or below; with more workers than cores, a worker
preempted between its copy and its step comes back to many updates it has not seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class LagCounts:
    """How often each lag occurred: `counts[k]` updates had lag k."""

    def __init__(self, counts: Iterable[int] = ()):
        self.counts = list(counts)

    def add(self, lag: int, times: int = 1) -> None:
        if lag >= len(self.counts):
            self.counts.extend([0] * (lag + 1 - len(self.counts)))
        self.counts[lag] += times

    def merge(self, counts: Iterable[int]) -> None:
        for lag, times in enumerate(counts):
            if times:
                self.add(lag, times)

    @property
    def updates(self) -> int:
        return sum(self.counts)

    def mean(self) -> float | None:
        total = self.updates
        return sum(lag * times for lag, times in enumerate(self.counts)) / total if total else None

    def quantile(self, q: float) -> int | None:
        """The smallest lag at or below which a share `q` of the updates lie (None with no update)."""
        total, below = self.updates, 0
        for lag, times in enumerate(self.counts):
            below += times
            if total and below >= q * total:
                return lag
        return None

    def summary(self) -> dict[str, Any]:
        """What run.json's summary holds: the distribution's mean, median, 95th percentile and maximum,
        and the counts themselves."""
        return {"updates": self.updates, "mean": self.mean(), "p50": self.quantile(0.5), "p95": self.quantile(0.95),
                "max": len(self.counts) - 1 if self.counts else None, "counts": list(self.counts)}
