"""Runs with made-up numbers, written with the trainer's own writers (CsvLog, write_json_atomically), so
that the analysis reads them exactly as it reads a real run; for results whose numbers a test sets."""

from pathlib import Path

from analysis.tables import LAG_COLUMNS
from asyncbench.records import EPISODE_COLUMNS, EVALUATION_COLUMNS, PROGRESS_COLUMNS, CsvLog, write_json_atomically


def write_run(run_dir: Path, *, algorithm: str, game: str, threads: int = 1, seed: int = 0, lr: float = 7e-4,
              drawn_lr: bool = False, optimizer: str = "shared_rmsprop", episodes: list[tuple[int, float, float]] = (),
              final_scores: list[float] = (), frames: int = 100_000, stop_return: float | None = None,
              stop_return_episodes: int = 100, lag_rows: list[tuple[float, float]] = (), lag_summary: dict | None = None) -> None:
    """One completed run.

    Args:
        episodes: (T, wall_seconds, return) of each training episode, in order.
        final_scores: the scores of the final evaluation's episodes.
        lag_rows: (policy_lag_mean, policy_lag_p95) of each progress row; none: those columns left empty.
        lag_summary: run.json's summary.policy_lag, if any.
    """
    run_dir.mkdir(parents=True)
    log = CsvLog(run_dir / "episodes.csv", EPISODE_COLUMNS)
    for T, seconds, value in episodes:
        log.write({"T": T, "wall_seconds": seconds, "worker": 0, "return": value, "length": 10})
    log.close()
    log = CsvLog(run_dir / "evaluations.csv", EVALUATION_COLUMNS)
    for episode, score in enumerate(final_scores):
        log.write({"T": frames, "wall_seconds": 100.0, "episode": episode, "score": score, "length": 10, "final": True})
    log.close()
    log = CsvLog(run_dir / "progress.csv", PROGRESS_COLUMNS)
    for row, lag in enumerate(lag_rows or [(None, None)]):
        log.write({"T": (row + 1) * 1000, "wall_seconds": row + 1.0, "fps": 1000.0, "lr": lr, "updates": row * 10,
                   "episodes": row, "return_mean_100": 0.0, **dict(zip(LAG_COLUMNS, lag))})
    log.close()
    config = {"algorithm": {"name": algorithm}, "game": {"name": game}, "model": {"name": "minatar"},
              "optimizer": {"name": "rmsprop" if optimizer == "shared_rmsprop" else optimizer,
                            "shared_statistics": optimizer == "shared_rmsprop"},
              "evaluation": {"episodes": len(final_scores)}, "threads": threads, "t_max": 5, "seed": seed, "lr": lr,
              "frames": frames, "max_seconds": None, "stop_return": stop_return, "stop_return_episodes": stop_return_episodes}
    summary = {"frames": frames, "wall_seconds": 100.0, "frames_per_second": frames / 100.0, "episodes": len(episodes),
               "final_evaluation_mean": sum(final_scores) / len(final_scores) if final_scores else None}
    write_json_atomically(run_dir / "run.json", {
        "status": "completed", "config": config, "choices": {"lr_sampling": "log_uniform" if drawn_lr else None},
        "seed": seed, "versions": {"asyncbench": "0.1.0"},
        "host": {"cpu_model": "synthetic", "cpu_count": 2, "usable_cores": 2, "hostname": "test"},
        "summary": {**summary, **({"policy_lag": lag_summary} if lag_summary else {})}})


def reaching(seconds: float, frames: int) -> list[tuple[int, float, float]]:
    """Two episodes whose mean return (window 2) first reaches 10 at `seconds` and `frames`: returns 0 then 20."""
    return [(frames // 2, seconds / 2, 0.0), (frames, seconds, 20.0)]
