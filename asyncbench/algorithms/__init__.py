"""The paper's methods by their `algorithm=` name: one registry for schemas, launching and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncbench.algorithms.a3c import A3C, A3CConfig


@dataclass(frozen=True)
class Algorithm:
    """A method's config schema and the class that turns a rollout into a loss."""

    config: type
    method: Any


ALGORITHMS: dict[str, Algorithm] = {
    "a3c": Algorithm(config=A3CConfig, method=A3C),
}
