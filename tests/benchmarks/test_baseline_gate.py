"""The regression gate itself: a figure past its margin fails the benchmark, one within passes, and a
benchmark past its margin is measured once more before it fails."""

from pathlib import Path

import pytest

from . import conftest

GATES = {"made-up benchmark": {
    "ratio": {"value": 1.0, "better": "higher", "margin": 0.1},
    "seconds": {"value": 2.0, "better": "lower", "margin": 0.5},
}}


@pytest.fixture(autouse=True)
def made_up_baseline(monkeypatch):
    monkeypatch.setattr(conftest, "_baseline", GATES)
    monkeypatch.setattr(conftest, "FIGURES", [])
    monkeypatch.setattr(conftest, "UPDATE_BASELINE", False)


def test_figures_within_their_margins_pass():
    conftest.report({"benchmark": "made-up benchmark", "ratio": 0.91, "seconds": 2.9, "ungated": 123})
    conftest.report({"benchmark": "a benchmark without gates", "ratio": 0.0})


@pytest.mark.parametrize("figures, message", [
    ({"ratio": 0.89, "seconds": 1.0}, r"ratio 0.89 < 0.9 \(baseline 1 - 10%\)"),
    ({"ratio": 1.0, "seconds": 3.1}, r"seconds 3.1 > 3 \(baseline 2 \+ 50%\)"),
    ({"ratio": 1.0}, "seconds was not measured"),
])
def test_a_figure_past_its_margin_fails(figures, message):
    with pytest.raises(pytest.fail.Exception, match=message):
        conftest.report({"benchmark": "made-up benchmark", **figures})


def test_a_regression_is_measured_once_more_before_it_fails(pytester, monkeypatch):
    """In a pytest session of its own: noise that passes on the second run passes, a regression on both
    runs fails, and a failure that is no regression (a broken benchmark) is not run again."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))  # tests/, so that `benchmarks` imports
    pytester.makepyfile(test_made_up="""
        from benchmarks import conftest as gates

        gates._baseline = {"made-up": {"ratio": {"value": 1.0, "better": "higher", "margin": 0.1}}}
        runs = {"noisy": 0}

        @gates.remeasure_on_regression
        def test_noisy_once():
            runs["noisy"] += 1
            gates.report({"benchmark": "made-up", "ratio": 0.5 if runs["noisy"] == 1 else 1.0})

        @gates.remeasure_on_regression
        def test_regressed():
            gates.report({"benchmark": "made-up", "ratio": 0.5})

        @gates.remeasure_on_regression
        def test_broken():
            assert 0, "not a regression"
    """)
    outcomes = pytester.runpytest_subprocess("-p", "no:cacheprovider").parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes["rerun"]) == (1, 2, 2), outcomes


@pytest.mark.slow
def test_a_benchmark_under_xdist_fails_before_it_measures(pytester):
    """With -n, other tests would run beside the measurement: the benchmark fails at setup, naming why."""
    benchmark = Path(__file__).parent / "test_scaling.py::test_thread_scaling_startup_and_memory[1]"
    result = pytester.runpytest_subprocess(str(benchmark), "-n", "1", "-p", "no:cacheprovider")
    assert result.parseoutcomes() == {"errors": 1}
    result.stdout.fnmatch_lines(["*the benchmarks measure this machine and need it to themselves: run them without -n*"])
