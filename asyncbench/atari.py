"""The paper's 57 Atari games, their published scores and baselines, and human-normalised scores.

Data: `asyncbench/data/atari57_scores.csv` (sources in `asyncbench/data/README.md`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import median

BASELINES = ("human_starts", "noop")
FIGURES_1_TO_4_GAMES = ("beam_rider", "breakout", "pong", "qbert", "space_invaders")  # also S5, S9-S11
TABLE_2_GAMES = ("beam_rider", "breakout", "enduro", "pong", "qbert", "seaquest", "space_invaders")


@dataclass(frozen=True)
class AtariGame:
    """One row of the catalogue; a score is None where the source gives none."""

    game: str
    paper_name: str
    env_id: str
    scores: dict[str, float | None]


def env_id(game: str) -> str:
    """Gymnasium's id of an ALE rom: beam_rider -> ALE/BeamRider-v5."""
    return "ALE/" + "".join(part.capitalize() for part in game.split("_")) + "-v5"


@cache
def catalogue() -> dict[str, AtariGame]:
    """The paper's 57 games by ALE rom id, in Table S3's order."""
    text = resources.files("asyncbench.data").joinpath("atari57_scores.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    games = {}
    for row in rows:
        scores = {key: float(value) if value else None for key, value in row.items() if key not in ("game", "paper_name")}
        games[row["game"]] = AtariGame(row["game"], row["paper_name"], env_id(row["game"]), scores)
    return games


def human_normalized(game: str, score: float, baselines: str = "noop", video_pinball_random_zero: bool = False) -> float:
    """100 (score - random) / (human - random), in percent (Table 1's caption).

    Args:
        game: ALE rom id.
        score: the raw game score.
        baselines: "noop" for runs evaluated with no-op starts (asyncbench's evaluator), or
            "human_starts" for the paper's own protocol and Table S3's numbers.
        video_pinball_random_zero: normalise Video Pinball's human-starts score as score / human, which
            is what reproduces the paper's Table 1 A3C rows (see asyncbench/data/README.md).
    """
    if baselines not in BASELINES:
        raise ValueError(f"baselines={baselines!r} is not allowed: expected one of {', '.join(BASELINES)}")
    row = catalogue()[game].scores
    random, human = (row["random"], row["human"]) if baselines == "human_starts" else (row["random_noop"], row["human_noop"])
    if video_pinball_random_zero and game == "video_pinball" and baselines == "human_starts":
        random = 0.0
    return 100.0 * (score - random) / (human - random)


def mean_and_median(scores: dict[str, float], **normalisation: object) -> tuple[float, float]:
    """Mean and median human-normalised score (%) over the games in `scores` (Table 1's summary)."""
    normalised = [human_normalized(game, score, **normalisation) for game, score in scores.items()]
    if not normalised or any(math.isnan(value) for value in normalised):
        raise ValueError("mean_and_median needs at least one finite score")
    return sum(normalised) / len(normalised), median(normalised)
