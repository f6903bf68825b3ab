"""The building blocks of the configuration's schemas: range checks, their validation, and the fields
every optimizer and every method has.

The optimizer and algorithm registries build their schemas from these, and `asyncbench.config`
gathers those schemas into the whole run's: this module imports nothing else of the package, so
neither side has to import the other inside a function. A schema field has no default (its value
lives in the YAML under `conf/`) and may carry a `Check`; a bad value fails with one line naming the
field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from omegaconf import MISSING


class ConfigError(ValueError):
    """A setting has a value that is not allowed; the message is one line meant for the user."""


@dataclass(frozen=True)
class Check:
    """An allowed range: `test(value)` must hold; `allowed` says in words what passes."""

    test: Callable[[Any], bool]
    allowed: str


def at_least(low: float, kind: str = "a number") -> Check:
    return Check(lambda v: v >= low, f"{kind} >= {low:g}")


def above(low: float, kind: str = "a number") -> Check:
    return Check(lambda v: v > low, f"{kind} > {low:g}")


def between(low: float, high: float, kind: str = "a number") -> Check:
    return Check(lambda v: low <= v <= high, f"{kind} in [{low:g}, {high:g}]")


def one_of(*choices: str) -> Check:
    return Check(lambda v: v in choices, "one of " + ", ".join(choices))


def checked(check: Check) -> Any:
    """A schema field with no default (values live in YAML) and a range check."""
    return field(default=MISSING, metadata={"check": check})


def not_a_setting(prefix: str, key: str, known: Iterable[str]) -> str:
    """The line for a key no schema has: the nearest setting, and every setting beside it."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"{prefix}{key} is not a setting{hint}; settings here: {', '.join(prefix + name for name in known)}"


def validate(config: Any, prefix: str = "") -> None:
    """Apply every field's `Check`, recursing into nested dataclasses; raise ConfigError, also for a
    key that is not a field (added with `+key=value`: OmegaConf.to_object keeps it as a plain attribute,
    which nothing would read)."""
    fields = [f.name for f in dataclasses.fields(config)]
    added = [name for name in vars(config) if name not in fields]
    if added:
        raise ConfigError(not_a_setting(prefix, added[0], fields))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value):
            validate(value, prefix=name + ".")
            continue
        check: Optional[Check] = f.metadata.get("check")
        if check is None or value is None:
            continue
        if not check.test(value):
            raise ConfigError(f"{name}={value!r} is not allowed: expected {check.allowed}")


@dataclass
class OptimizerConfig:
    """Fields every optimizer has; each one's schema extends it (see asyncbench.optimizers)."""

    name: str = MISSING
    shared_statistics: bool = MISSING


@dataclass
class AlgorithmConfig:
    """Fields every method has; each method's schema extends it (see asyncbench.algorithms)."""

    name: str = MISSING
