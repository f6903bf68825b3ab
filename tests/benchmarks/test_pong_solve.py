"""Time to solve Pong on this machine with experiment=pong_fast: the headline benchmark.

Too long for CI (up to 20 minutes a seed), so it is marked `solve` and left out of the default run:

    .venv/bin/python -m pytest -m solve tests/benchmarks/test_pong_solve.py

Each seed runs the real command line, `python -m asyncbench experiment=pong_fast seed=S`, to the
evaluator's first mean of +18 over 10 no-op-start episodes, 20 minutes or 5M frames. Target: every seed reaches +18
within the 20 minutes, in a periodic evaluation or in that of the final weights (timed when it ended). The
minutes and frames to -10, 0 and +18 are printed in the figures table.
"""

import pytest

from analysis.loading import load_results
from analysis.tables import evaluation_milestones
from tests.conftest import read_run, run_app

from .conftest import report

TARGET_MINUTES = 20


@pytest.mark.solve
@pytest.mark.timeout(TARGET_MINUTES * 60 + 600)  # the budget, start-up, the last evaluation and the final one
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pong_fast_reaches_18_within_20_minutes(benchmark, tmp_path, seed):
    done = benchmark.pedantic(run_app, args=("experiment=pong_fast", f"seed={seed}", "resume.enabled=false",
                                             f"hydra.run.dir={tmp_path}"),
                              kwargs={"timeout": TARGET_MINUTES * 60 + 540}, rounds=1, iterations=1)
    assert done.returncode == 0, done.stderr[-2000:]
    info, _, _ = read_run(tmp_path)
    milestones = evaluation_milestones(load_results([tmp_path])).iloc[0]
    figures = {"benchmark": f"pong_fast, seed {seed}", "frames_per_second": info["summary"]["frames_per_second"],
               **{name: float(milestones[name]) for name in milestones.index if name.startswith(("minutes_to", "M_frames_to"))},
               "best_mean": float(milestones["best_mean"])}
    benchmark.extra_info.update(figures)
    report(figures)
    # A periodic evaluation (which stops training) or that of the final weights, where training stopped
    # earlier at the 5M frames of the preset's learning-rate horizon.
    minutes = milestones["minutes_to_+18"]
    assert minutes <= TARGET_MINUTES, (f"seed {seed}: no evaluation mean of +18 within {TARGET_MINUTES} minutes "
                                       f"(best {milestones['best_mean']:.1f}; +18 at {minutes:.1f} min)")
