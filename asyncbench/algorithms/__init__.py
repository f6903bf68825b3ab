"""The paper's methods by their `algorithm=` name: one registry for schemas, launching and tests.

Each method class names its config schema as `config_schema`.
"""

from __future__ import annotations

from asyncbench.algorithms.a3c import A3C

ALGORITHMS: dict[str, type] = {
    "a3c": A3C,
}
