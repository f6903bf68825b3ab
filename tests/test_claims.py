"""`python -m analysis claims` on small result sets whose verdicts are known by construction: runs written
with the trainer's own writers, numbers checked against hand computation."""

import csv
import dataclasses
import inspect
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import claims, tables
from analysis.claims import CONSISTENT, INCONCLUSIVE, INCONSISTENT, NOT_MEASURED, measure_claims, verdict
from analysis.loading import Results, load_results
from analysis.statistics import bootstrap_interval
from tests.conftest import ROOT
from tests.synthetic_runs import reaching, write_run

# Table 2's runs stop at a mean return of 10 over 2 episodes: the runs' own reference score and window.
STOP = {"stop_return": 10.0, "stop_return_episodes": 2}
# (seconds, frames) to the reference score of each run, by method and thread count; None: never reached
TO_REFERENCE = {
    "a3c": {1: [(10, 4000), (12, 4000), (14, 4000)], 2: [(5, 4000), (6, 4000), (7, 4000)]},
    "onestep_q": {1: [(11.8, 4000), (12, 4000), (12.2, 4000)], 2: [(9.9, 2000), (10, 2000), (10.1, 2000)]},
    "onestep_sarsa": {1: [(10, 1000), (10, 1000)], 2: [(10, 4000), (10, 4000)]},
    "nstep_q": {1: [(4, 4000), (40, 4000)], 2: [(4, 4000), (40, 4000), None]},
}
NSTEP_Q_LR_SCORES = [100, 10, 5, 0, 0, 0, 0, 0, 0, 0]
S5_SCORES = {"shared_rmsprop": [10, 10, 9, 9], "rmsprop": [5, 5, 4, 4], "momentum_sgd": [10, 9, 10, 9]}
LSTM_SCORES = {"a3c_lstm": [20, 22, 24], "a3c": [30, 31, 32]}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("claims")
    for algorithm, by_threads in TO_REFERENCE.items():
        for threads, reached in by_threads.items():
            for seed, point in enumerate(reached):
                lag = {"lag_rows": [(0.0, 0.0)]} if threads == 1 else {"lag_rows": [(1.0, 4.0), (3.0, 6.0)]}
                if (algorithm, threads, seed) == ("a3c", 2, 2):
                    lag["lag_summary"] = {"mean": 8.0, "p95": 10.0, "max": 12}
                write_run(root / "table2" / f"{algorithm}_{threads}_{seed}", algorithm=algorithm, game="minatar_breakout",
                          threads=threads, seed=seed, episodes=reaching(*point) if point else reaching(1, 1000)[:1] * 2,
                          final_scores=[1.0], **STOP, **lag)
    for seed, score in enumerate(NSTEP_Q_LR_SCORES):
        write_run(root / "lr" / f"nstep_q_{seed}", algorithm="nstep_q", game="minatar_asterix", seed=seed,
                  lr=1e-4 * 10 ** (seed / 5), drawn_lr=True, final_scores=[score])
    # a run at a rate set by hand (a pilot) beside them, scoring the best: no sample of the drawn rates
    write_run(root / "lr" / "nstep_q_set", algorithm="nstep_q", game="minatar_asterix", seed=100, lr=5e-3,
              final_scores=[100.0])
    for seed in range(6):
        write_run(root / "lr" / f"a3c_{seed}", algorithm="a3c", game="minatar_asterix", seed=seed,
                  lr=1e-4 * 10 ** (seed / 3), drawn_lr=True, final_scores=[50.0])
    for optimizer, scores in S5_SCORES.items():
        for seed, score in enumerate(scores):
            write_run(root / "optimizers" / f"{optimizer}_{seed}", algorithm="a3c", game="minatar_seaquest", seed=seed,
                      lr=1e-4 * 10 ** (seed / 2), drawn_lr=True, optimizer=optimizer, final_scores=[score])
    for algorithm, scores in LSTM_SCORES.items():
        for seed, score in enumerate(scores):
            write_run(root / "lstm" / f"{algorithm}_{seed}", algorithm=algorithm, game="minatar_freeway", seed=seed,
                      final_scores=[score, score])
    (root / "lr" / "multirun.yaml").write_text(  # what Hydra writes of a sweep's command line, in part
        "hydra:\n  overrides:\n    hydra:\n    - hydra.mode=MULTIRUN\n    - hydra.sweep.dir=/elsewhere/claims/lr\n"
        "    task:\n    - experiment=claims_lr\n    - resume.root=/elsewhere/claims\n")
    return root


def _measured(path):
    results = load_results([path])
    return {claim.claim: claim for claim in measure_claims(results, tables.reference_scores(results))}


@pytest.mark.parametrize("low, high, null, paper_value, measured, expected", [
    (1.5, 2.5, 1.0, 2.1, True, CONSISTENT),      # above no effect, holds the paper's number
    (2.5, 3.5, 1.0, 2.1, True, CONSISTENT),      # above the paper's number: more than it claims
    (1.3, 1.8, 1.0, 2.1, True, INCONSISTENT),    # a speedup, but below the paper's
    (0.5, 0.9, 1.0, None, True, INCONSISTENT),   # below no effect
    (0.8, 3.0, 1.0, 2.1, True, INCONCLUSIVE),    # holds both no effect and the paper's number
    (-1.0, 0.0, 0.0, None, True, INCONCLUSIVE),  # touches no effect from below: not below it
    (math.nan, math.nan, 0.0, None, True, INCONCLUSIVE),  # a condition with one run: no interval
    (1.5, 2.5, 1.0, 2.1, False, NOT_MEASURED),
])
def test_the_verdict_rule(low, high, null, paper_value, measured, expected):
    assert verdict(low, high, null, paper_value, measured) == expected


def test_the_bootstrap_interval_on_cases_computed_by_hand():
    ratio = lambda first, second, axis=-1: first.mean(axis=axis) / second.mean(axis=axis)  # noqa: E731
    # two runs a side: each mean is 4, 22 or 40; the ratio 40 / 4 = 10 has probability 1/16 > 2.5%, so it bounds the interval
    assert bootstrap_interval([np.array([4.0, 40.0]), np.array([4.0, 40.0])], ratio) == pytest.approx((0.1, 10.0))
    assert bootstrap_interval([np.array([3.0, 3.0]), np.array([2.0, 2.0])], ratio) == (1.5, 1.5)
    assert all(math.isnan(bound) for bound in bootstrap_interval([np.array([3.0]), np.array([2.0, 2.0])], ratio))


def test_reference_scores_come_from_the_command_line_then_the_runs_then_the_shipped_table():
    runs = pd.DataFrame({"game": ["minatar_breakout", "minatar_breakout", "pong", "minatar_asterix", "minatar_asterix", "cartpole"],
                         "stop_return": [10.0, None, None, 5.0, 6.0, None], "stop_return_episodes": [2, 100, 100, 100, 100, 100]})
    results = Results(runs, *[pd.DataFrame()] * 4, [])
    found = tables.reference_scores(results, {"cartpole": 50.0}).set_index("game")
    assert found.loc["minatar_breakout"].tolist() == [10.0, 2, "the runs' stop_return"]  # the fixed-budget run follows
    assert found.loc["pong"].tolist() == [0.0, 100, "analysis/data/reference_scores.csv"]
    assert found.loc["cartpole"].tolist() == [50.0, 100, "--reference-score"]
    assert "minatar_asterix" not in found.index  # two stop_returns and none shipped: no reference score


def test_table_2_speedups_and_their_verdicts(root):
    found = _measured(root / "table2")
    a3c, one_step_q = found["A3C: 2 threads reach the reference score faster than 1"], found["1-step Q: 2 threads reach the reference score faster than 1"]
    assert (a3c.ours, a3c.paper_value, a3c.runs, a3c.verdict) == (pytest.approx(12 / 6), 2.1, "6 of 6 reached", CONSISTENT)
    assert a3c.ci_low > 1 and a3c.ci_high >= 2.1
    assert "minatar_breakout; threads 1, 2; 100,000 frames; stop_return 10; 2 cores" in a3c.task
    assert (one_step_q.ours, one_step_q.verdict) == (pytest.approx(12 / 10), INCONSISTENT)
    assert 11.8 / 10.1 <= one_step_q.ci_low and one_step_q.ci_high <= 12.2 / 9.9  # the extreme resamples
    sarsa = found["1-step SARSA: 2 threads reach the reference score faster than 1"]
    assert (sarsa.ours, sarsa.ci_low, sarsa.ci_high, sarsa.verdict) == (1.0, 1.0, 1.0, INCONSISTENT)
    n_step = found["n-step Q: 2 threads reach the reference score faster than 1"]
    assert (n_step.ours, n_step.runs, n_step.verdict) == (pytest.approx(1.0), "4 of 5 reached", INCONCLUSIVE)
    assert (n_step.ci_low, n_step.ci_high) == pytest.approx((0.1, 10.0))
    # Counted at the 100 s it ran, the run that ended short makes the 2-thread median 40 (of 4, 40, 100), the
    # 1-thread one 22 (of 4, 40); the bootstrap's extremes 4 / 100 and 40 / 4 each have probability 1/4 x 7/27.
    assert n_step.note == ("ended short of the reference score, left out of the means (which they would raise): 1 at 2 "
                           "threads; counting each at the seconds it ran (it took at least that long), the speedup "
                           "from median times is 0.55 [0.04, 10.00]")
    assert a3c.note == ""
    for method in ("A3C", "1-step Q", "1-step SARSA", "n-step Q"):
        for threads in (4, 8, 16):
            assert found[f"{method}: {threads} threads reach the reference score faster than 1"].verdict == NOT_MEASURED
    assert found["A3C: 16 threads reach the reference score faster than 1"].paper == "12.5x (7 Atari games, 16 cores)"


def test_table_2_averages_the_speedups_of_games_each_run_to_its_own_reference_score(tmp_path):
    """Two games, each run until its own reference score (stop_return 10 and 20): one row, the mean of the
    games' speedups, 11 / 5.5 = 2 and 30 / 10 = 3."""
    for game, stop, seconds in [("minatar_breakout", 10.0, {1: [10, 12], 2: [5, 6]}),
                                ("minatar_space_invaders", 20.0, {1: [30, 30], 2: [10, 10]})]:
        for threads, times in seconds.items():
            for seed, time in enumerate(times):
                episodes = [(2000, time / 2, 0.0), (4000, time, 2 * stop)]  # the mean of 2 reaches stop at `time`
                write_run(tmp_path / f"{game}_{threads}_{seed}", algorithm="a3c", game=game, threads=threads, seed=seed,
                          episodes=episodes, final_scores=[1.0], stop_return=stop, stop_return_episodes=2)
    results = load_results([tmp_path])
    # stop_return follows from the game here, so the loader does not count it as varying; among other runs of
    # these games (a learning-rate sweep that does not stop) it would, as in results/claims
    results = dataclasses.replace(results, varying=[*results.varying, "stop_return"])
    rows = [claim for claim in measure_claims(results, tables.reference_scores(results))
            if claim.claim == "A3C: 2 threads reach the reference score faster than 1"]
    assert len(rows) == 1 and rows[0].ours == pytest.approx(2.5) and rows[0].runs == "8 of 8 reached"
    assert "minatar_breakout, minatar_space_invaders" in rows[0].task and "stop_return 10, 20" in rows[0].task


def test_frames_and_seconds_to_the_reference_against_threads(root):
    found = _measured(root / "table2")
    frames_q = found["1-step Q needs fewer frames to the reference score with more threads"]
    assert (frames_q.ours, frames_q.ci_low, frames_q.ci_high, frames_q.verdict) == (1.0, 1.0, 1.0, CONSISTENT)  # 4000 -> 2000
    frames_sarsa = found["1-step SARSA needs fewer frames to the reference score with more threads"]
    assert (frames_sarsa.ours, frames_sarsa.verdict) == (-2.0, INCONSISTENT)  # 1000 -> 4000: two doublings more
    seconds_a3c = found["A3C reaches the reference score sooner in wall-clock with more threads"]
    assert (seconds_a3c.ours, seconds_a3c.verdict) == (pytest.approx(1.0), CONSISTENT)  # 12 s -> 6 s
    assert seconds_a3c.ci_low >= math.log2(10 / 7) - 1e-9 and seconds_a3c.ci_high <= math.log2(14 / 5) + 1e-9
    seconds_sarsa = found["1-step SARSA reaches the reference score sooner in wall-clock with more threads"]
    assert (seconds_sarsa.ours, seconds_sarsa.verdict) == (0.0, INCONCLUSIVE)  # 10 s either way: [0, 0] holds no effect
    assert "n-step Q needs fewer frames to the reference score with more threads" not in found  # not a one-step method


def test_the_wall_clock_claims_leave_out_runs_with_more_threads_than_cores(tmp_path):
    """4 threads on the runs' 2 cores share them, so their seconds time the host: Table 2 and Figure 4 leave
    them out; Figure 3 compares frames and keeps them."""
    for threads, (seconds, frames) in {1: (12, 4000), 2: (6, 2000), 4: (1, 1000)}.items():
        for seed in range(2):
            write_run(tmp_path / f"{threads}_{seed}", algorithm="onestep_q", game="minatar_breakout", threads=threads,
                      seed=seed, episodes=reaching(seconds, frames), final_scores=[1.0], **STOP)
    found = _measured(tmp_path)
    assert found["1-step Q: 2 threads reach the reference score faster than 1"].ours == pytest.approx(12 / 6)
    four = found["1-step Q: 4 threads reach the reference score faster than 1"]
    assert four.verdict == NOT_MEASURED and four.note.endswith("each thread on a core of its own")
    seconds = found["1-step Q reaches the reference score sooner in wall-clock with more threads"]
    assert seconds.ours == pytest.approx(1.0) and "threads 1, 2;" in seconds.task  # 12 s -> 6 s; 4 threads' 1 s left out
    frames = found["1-step Q needs fewer frames to the reference score with more threads"]
    assert frames.ours == pytest.approx(1.0) and "threads 1, 2, 4;" in frames.task  # 4000 -> 2000 -> 1000


def test_a_method_table_2_leaves_out_gets_a_row_held_to_no_effect(tmp_path):
    """A3C LSTM at 1 and 2 threads (as on Pong, pong_fast's recipe): its own Table 2 row, with no number of the
    paper's to meet, so its verdict follows from no effect (a speedup of 1) alone."""
    for threads, seconds in {1: [11, 12, 13], 2: [5, 6, 7]}.items():
        for seed, time in enumerate(seconds):
            write_run(tmp_path / f"{threads}_{seed}", algorithm="a3c_lstm", game="minatar_breakout", threads=threads,
                      seed=seed, episodes=reaching(time, 4000), final_scores=[1.0], **STOP)
    row = _measured(tmp_path)["A3C LSTM: 2 threads reach the reference score faster than 1"]
    assert (row.ours, row.paper, row.paper_value, row.verdict) == (pytest.approx(12 / 6), "none: not a method of Table 2",
                                                                   None, CONSISTENT)
    assert row.ci_low >= 11 / 7 and row.ci_high <= 13 / 5 + 1e-9


def test_learning_rate_robustness(root):
    found = _measured(root / "lr")
    n_step = found["n-step Q is robust to the learning rate"]
    # best 100, worst 0: a good rate scores >= 100 - 0.25 x 100 = 75, which 1 of 10 does
    assert (n_step.ours, n_step.runs, n_step.verdict) == (pytest.approx(0.1), "10", INCONSISTENT)
    assert n_step.ci_high < claims.ROBUST_SHARE
    a3c = found["A3C is robust to the learning rate"]
    assert (a3c.ours, a3c.ci_low, a3c.verdict) == (1.0, 1.0, CONSISTENT)
    assert "6 learning rates" in a3c.note
    assert found["1-step Q is robust to the learning rate"].verdict == NOT_MEASURED


def test_shared_rmsprop_against_the_other_optimizers(root):
    found = _measured(root / "optimizers")
    per_thread = found["A3C: shared RMSProp is more robust than per-thread RMSProp"]
    # means 9.5 and 4.5 over the span 10 - 4 of both
    assert (per_thread.ours, per_thread.runs, per_thread.verdict) == (pytest.approx(5 / 6), "4 + 4", CONSISTENT)
    sgd = found["A3C: shared RMSProp is more robust than momentum SGD"]
    assert (sgd.ours, sgd.verdict) == (0.0, INCONCLUSIVE)
    assert sgd.ci_low < 0 < sgd.ci_high
    assert found["n-step Q: shared RMSProp is more robust than per-thread RMSProp"].verdict == NOT_MEASURED


def test_lstm_against_feed_forward(root):
    claim = _measured(root / "lstm")["A3C LSTM scores higher than A3C FF"]
    assert (claim.ours, claim.runs, claim.verdict) == (pytest.approx(22 - 31), "3 + 3", INCONSISTENT)
    assert claim.ci_high < 0 and "623" in claim.paper


def test_policy_lag_per_thread_count(root):
    lag = tables.policy_lag(load_results([root / "table2"])).set_index(["algorithm", "threads"])
    # a3c at 2 threads: two runs with progress rows of mean lag 1 and 3 (95th percentile 4 and 6), one whose summary says 8 (10)
    assert lag.loc[("a3c", 2), ["runs", "policy_lag_mean", "policy_lag_p95"]].tolist() == pytest.approx([3, 4.0, 20 / 3])
    assert lag.loc[("a3c", 1), "policy_lag_mean"] == 0.0
    assert tables.policy_lag(load_results([root / "lr"])) is None


@pytest.mark.slow
def test_the_claims_command_writes_every_verdict_and_the_rule(root, tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis", "claims", str(root), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "claims.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["verdict"] for row in rows} == {CONSISTENT, INCONSISTENT, INCONCLUSIVE, NOT_MEASURED}
    text = (tmp_path / "claims.md").read_text()
    assert inspect.cleandoc(verdict.__doc__) in text
    assert "| minatar_breakout | 10 | 2 | the runs' stop_return |" in text
    assert "Games without a reference score" in text and "minatar_seaquest" in text
    for row in rows:
        assert f"| {row['verdict']} |" in text
    # each source's figure, drawn from the runs behind its claims, under its heading
    for source, name in [("Table 2", "table2"), ("Figure 3/S9", "figure3"), ("Figure 2/S11", "figure2"),
                         ("Figure S5", "figure_s5"), ("Table S3/Table 1", "lstm")]:
        assert (tmp_path / "figures" / "claims" / f"{name}.png").stat().st_size > 0
        assert f"### {source}\n\n![" in text
    assert "![Policy lag against threads](figures/claims/policy_lag.png)" in text
    # 56 runs of 100 s, 11 of them with 2 threads on 2 cores
    assert "All 56 runs: 1.56 wall-clock hours, one run at a time; 1.86 core-hours." in text
    # the sweep ran elsewhere: its command names the directories where it is now
    assert (f"| 17 | 0.47 | 0.47 | synthetic x 2 | `python -m asyncbench -m experiment=claims_lr resume.root={root} "
            f"hydra.sweep.dir={root / 'lr'}` |") in text
