"""The regression gate itself: a figure past its margin fails the benchmark, one within passes."""

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
