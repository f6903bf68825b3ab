"""Progress bars for the long steps that are not training (the final evaluation, reading the runs of a
sweep or of a report), drawn by tqdm on standard error only when it is a terminal: logs, pipes and
CI get none. Training itself reports in its status lines."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, description: str,
                 unit: str) -> tqdm:
    """A bar over `iterable` (or `total` steps, advanced by `update()`), erased when done."""
    return tqdm(iterable, total=total, desc=description, unit=unit, leave=False, file=sys.stderr,
                disable=None)  # None: off when standard error is not a terminal
