"""Loading and aggregating 1,000 runs stays interactive: runs synthesised with the trainer's own writer, the
time taken held against a plain read of the same files (pandas and json alone), measured in the same test."""

import io
import json
import random
import statistics
import time

import pandas as pd
import pytest

from analysis import paper, tables
from analysis.loading import load_results
from asyncbench.records import EPISODE_COLUMNS, EVALUATION_COLUMNS, PROGRESS_COLUMNS, CsvLog, write_json_atomically

from .conftest import remeasure_on_regression, report

pytestmark = remeasure_on_regression

GAMES = ("beam_rider", "breakout", "pong", "qbert", "space_invaders")
ALGORITHMS = ("onestep_q", "onestep_sarsa", "nstep_q", "a3c")
THREADS = (1, 2, 4, 8, 16)
SEEDS = range(10)  # 5 x 4 x 5 x 10 = 1,000 runs
EPISODES, EVALUATIONS, PROGRESS_ROWS = 200, 10, 30


def _write_run(run_dir, game, algorithm, threads, seed):
    """One run as the trainer writes it: the same CSV writer and atomic run.json, with made-up numbers."""
    run_dir.mkdir(parents=True)
    draw = random.Random(f"{game}{algorithm}{threads}{seed}")
    frames, seconds = 4_000_000, 3600.0 / threads
    episodes = CsvLog(run_dir / "episodes.csv", EPISODE_COLUMNS)
    for i in range(EPISODES):
        episodes.write({"T": frames * (i + 1) // EPISODES, "wall_seconds": seconds * (i + 1) / EPISODES,
                        "worker": i % threads, "return": draw.gauss(10 * i, 50), "length": draw.randint(500, 5000)})
    evaluations = CsvLog(run_dir / "evaluations.csv", EVALUATION_COLUMNS)
    for i in range(EVALUATIONS):
        evaluations.write({"T": frames, "wall_seconds": seconds, "episode": i, "score": draw.gauss(2000, 300),
                           "length": 4000, "final": True})
    progress = CsvLog(run_dir / "progress.csv", PROGRESS_COLUMNS + ("policy_loss", "value_loss", "entropy"))
    for i in range(PROGRESS_ROWS):
        progress.write({"T": frames * (i + 1) // PROGRESS_ROWS, "wall_seconds": seconds * (i + 1) / PROGRESS_ROWS,
                        "fps": frames / seconds, "lr": 7e-4, "updates": i * 100, "episodes": i, "return_mean_100": 1.0,
                        "policy_loss": 0.1, "value_loss": 0.2, "entropy": 1.0})
    for log in (episodes, evaluations, progress):
        log.close()
    config = {"algorithm": {"name": algorithm}, "game": {"name": game}, "model": {"name": "small"},
              "optimizer": {"name": "rmsprop", "shared_statistics": True}, "threads": threads, "t_max": 5, "seed": seed,
              "lr": 7e-4, "frames": frames, "max_seconds": None}
    write_json_atomically(run_dir / "run.json", {
        "status": "completed", "config": config, "seed": seed, "versions": {"asyncbench": "0.1.0"},
        "host": {"cpu_model": "synthetic", "cpu_count": 16, "usable_cores": 16, "hostname": "bench"},
        "summary": {"frames": frames, "wall_seconds": seconds, "frames_per_second": frames / seconds,
                    "episodes": EPISODES, "final_evaluation_mean": 2000.0}})


@pytest.fixture(scope="module")
def thousand_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("thousand")
    for number, (game, algorithm, threads, seed) in enumerate(
            (g, a, t, s) for g in GAMES for a in ALGORITHMS for t in THREADS for s in SEEDS):
        _write_run(root / f"{number}_game={game},algorithm={algorithm},threads={threads},seed={seed}", game, algorithm, threads, seed)
    return root


def _read_plainly(root):
    """The same files read with json and pandas and nothing more, each table's files joined and parsed by one
    read_csv call (as the loader parses them): the floor under loading them."""
    run_dirs = sorted(root.iterdir())
    for run_dir in run_dirs:
        json.loads((run_dir / "run.json").read_text())
    tables_read = {}
    for name in ("episodes", "evaluations", "progress"):
        texts = [(run_dir / f"{name}.csv").read_text() for run_dir in run_dirs]
        body = "".join(text.partition("\n")[2] for text in texts)
        tables_read[name] = pd.read_csv(io.StringIO(texts[0].partition("\n")[0] + "\n" + body))
    return tables_read


def test_load_and_aggregate_1000_runs(benchmark, thousand_runs):
    def load_and_aggregate():
        results = load_results([thousand_runs])
        tables.speedup(results, paper.reference_scores())
        tables.final_scores(results)
        tables.human_normalised_summary(results)
        return results

    results = benchmark.pedantic(load_and_aggregate, rounds=3, iterations=1)
    assert len(results.runs) == 1000 and not results.skipped
    assert len(results.episodes) == 1000 * EPISODES
    plain_reads = []
    for _ in range(3):
        started = time.perf_counter()
        assert len(_read_plainly(thousand_runs)["episodes"]) == 1000 * EPISODES
        plain_reads.append(time.perf_counter() - started)
    seconds, plain = benchmark.stats.stats.median, statistics.median(plain_reads)
    report({"benchmark": "analysis: load + aggregate 1,000 runs", "runs": 1000,
            "episode rows": len(results.episodes), "seconds": seconds, "plain read s": plain,
            "seconds / plain read": seconds / plain})
