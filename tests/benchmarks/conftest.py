"""Benchmarks print their figures in one table at the end of the session and hold the figures that
tests/benchmarks/baseline.json names to its margins: a regression beyond a margin fails the benchmark.

baseline.json maps a benchmark's name to its gated figures, each with the stored value, which way
is better and the margin (a fraction of the value) set from the run-to-run spread measured on this
machine. A figure past its margin is measured once more before the benchmark fails
(`remeasure_on_regression`): a real regression fails both runs, noise rarely does.
`ASYNCBENCH_UPDATE_BASELINE=1 python -m pytest -m benchmark` stores the values measured instead
(margins and directions stay; docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FIGURES: list[dict] = []
BENCHMARKS_DIR = Path(__file__).parent
BASELINE_FILE = BENCHMARKS_DIR / "baseline.json"
UPDATE_BASELINE = os.environ.get("ASYNCBENCH_UPDATE_BASELINE") == "1"
_baseline = json.loads(BASELINE_FILE.read_text())
REGRESSION = f"regression against {BASELINE_FILE.name}"
remeasure_on_regression = pytest.mark.flaky(reruns=1, only_rerun=[REGRESSION])  # pytest-rerunfailures


def show(figures: dict) -> None:
    """Add a benchmark's figures to the summary table, ungated."""
    FIGURES.append(figures)


def report(figures: dict) -> None:
    """Add a benchmark's figures to the summary table, then hold them to the stored baseline
    (with ASYNCBENCH_UPDATE_BASELINE=1, store them as the new values instead)."""
    show(figures)
    if UPDATE_BASELINE:
        for name, gate in _baseline.get(figures["benchmark"], {}).items():
            if name in figures:
                gate["value"] = round(float(figures[name]), 4)
        return
    failed = regressions(figures)
    if failed:
        pytest.fail(f"{figures['benchmark']}: {REGRESSION}: " + "; ".join(failed))


def regressions(figures: dict) -> list[str]:
    """Each gated figure of `figures["benchmark"]` past its margin, in one line each."""
    failed = []
    for name, gate in _baseline.get(figures["benchmark"], {}).items():
        measured = figures.get(name)
        if measured is None:
            failed.append(f"{name} was not measured")
            continue
        higher_is_better = gate["better"] == "higher"
        bound = gate["value"] * (1 - gate["margin"] if higher_is_better else 1 + gate["margin"])
        if (measured < bound) if higher_is_better else (measured > bound):
            failed.append(f"{name} {measured:.4g} {'<' if higher_is_better else '>'} {bound:.4g} "
                          f"(baseline {gate['value']:.4g} {'-' if higher_is_better else '+'} {gate['margin']:.0%})")
    return failed


def pytest_collection_modifyitems(config, items):
    """Every test here measures this machine (`-m "not benchmark"` leaves them out), except the tests of
    the gate itself. The solve-time benchmark (20 minutes a seed) runs only when asked for by name,
    `-m solve`: no other selection, the default one included, picks it."""
    for item in items:
        if item.path.parent == BENCHMARKS_DIR and item.path.name != "test_baseline_gate.py":
            item.add_marker(pytest.mark.benchmark)
    if "solve" not in (config.getoption("markexpr") or ""):
        solve = [item for item in items if item.get_closest_marker("solve")]
        if solve:
            config.hook.pytest_deselected(items=solve)
            items[:] = [item for item in items if not item.get_closest_marker("solve")]


def pytest_runtest_setup(item):
    """A benchmark under pytest-xdist (-n) fails: the other workers' tests would run beside its measurement."""
    if item.get_closest_marker("benchmark") and hasattr(item.config, "workerinput"):
        pytest.fail('the benchmarks measure this machine and need it to themselves: run them without -n, '
                    'or leave them out with -m "not benchmark"', pytrace=False)


def pytest_sessionfinish(session):
    if UPDATE_BASELINE and FIGURES:
        BASELINE_FILE.write_text(json.dumps(_baseline, indent=2) + "\n")


def pytest_terminal_summary(terminalreporter):
    """One table per kind of benchmark: consecutive rows with the same figures share their columns."""
    if not FIGURES:
        return
    terminalreporter.section("asyncbench figures")
    tables: list[list[dict]] = []
    for row in FIGURES:
        if tables and list(tables[-1][0]) == list(row):
            tables[-1].append(row)
        else:
            tables.append([row])
    for rows in tables:
        widths = {column: max(len(column), *(len(_text(row[column])) for row in rows)) for column in rows[0]}
        terminalreporter.write_line("")
        terminalreporter.write_line("  ".join(column.rjust(width) for column, width in widths.items()))
        for row in rows:
            terminalreporter.write_line("  ".join(_text(row[column]).rjust(width) for column, width in widths.items()))


def _text(value):
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)
