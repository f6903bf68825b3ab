"""The analysis package on real runs written by the real trainer: loading, tables, figures, the report."""

import csv
import gzip
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from analysis import paper, tables
from analysis.figures import FIGURES, _with_most_threads, draw_figure, save_figure
from analysis.loading import Results, load_results
from analysis.statistics import iqm, iqm_with_ci
from asyncbench.atari import mean_and_median
from asyncbench.config import compose_config, load_config
from tests.conftest import ROOT, read_csv, run_app
from tests.synthetic_runs import write_run

SWEEP = ("threads=1,2", "seed=0,1", "frames=24000", "evaluation.interval_frames=8000")


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """A real 4-job sweep: A3C on CartPole with 1 and 2 threads and 2 seeds (about 30 s on an idle 2-core machine)."""
    root = tmp_path_factory.mktemp("sweep")
    done = run_app("-m", *SWEEP, f"hydra.sweep.dir={root}", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


@pytest.fixture(scope="session")
def damaged(sweep, tmp_path_factory):
    """The sweep plus copies of one of its runs: cut short mid-row, with a corrupt run.json, and still running."""
    root = tmp_path_factory.mktemp("damaged")
    shutil.copytree(sweep, root / "sweep")
    source = next((root / "sweep").glob("0_*"))
    truncated, corrupt, running = (shutil.copytree(source, root / name) for name in ("truncated", "corrupt", "running"))
    episodes = (truncated / "episodes.csv").read_bytes()
    (truncated / "episodes.csv").write_bytes(episodes[:len(episodes) // 2])  # the middle of some row
    (corrupt / "run.json").write_text((corrupt / "run.json").read_text()[:200])
    info = json.loads((running / "run.json").read_text())
    (running / "run.json").write_text(json.dumps({**info, "status": "running", "ended_at": None}))
    return root


@pytest.mark.slow
def test_every_run_of_a_real_sweep_loads_into_tidy_tables(sweep):
    results = load_results([sweep])
    infos = [json.loads(path.read_text()) for path in sorted(sweep.glob("*/run.json"))]
    assert len(results.runs) == 4 and not results.skipped
    assert results.varying == ["threads", "seed"]
    assert sorted(results.runs["threads"]) == [1, 1, 2, 2]
    assert len(results.episodes) == sum(info["summary"]["episodes"] for info in infos)
    assert len(results.evaluations) == sum(len(read_csv(path)) for path in sweep.glob("*/evaluations.csv"))
    assert len(results.progress) == sum(len(read_csv(path)) for path in sweep.glob("*/progress.csv"))
    for table in (results.episodes, results.evaluations, results.progress):
        assert {"run", "algorithm", "game", "threads", "seed", "lr", "optimizer", "t_max"} <= set(table.columns)
    assert results.runs["cpu_model"].notna().all() and (results.runs["usable_cores"] >= 1).all()
    final = {info["config"]["seed"] * 10 + info["config"]["threads"]: info["summary"]["final_evaluation_mean"] for info in infos}
    loaded = dict(zip(results.runs["seed"] * 10 + results.runs["threads"], results.runs["final_score"]))
    assert loaded == pytest.approx(final)
    assert set(results.versions["package"]) >= {"torch", "asyncbench"}
    assert all(info["choices"]["algorithm"] == "a3c" and info["choices"]["lr_sampling"] is None for info in infos)


def test_a_run_whose_episodes_are_kept_compressed_loads_the_same(sweep, tmp_path):
    shutil.copytree(sweep, tmp_path / "sweep")
    for path in (tmp_path / "sweep").glob("*/episodes.csv"):
        with gzip.open(path.with_name("episodes.csv.gz"), "wt") as file:
            file.write(path.read_text())
        path.unlink()
    compressed, plain = load_results([tmp_path / "sweep"]), load_results([sweep])
    assert not compressed.skipped and len(compressed.episodes) > 0
    pd.testing.assert_frame_equal(compressed.episodes.drop(columns="run"), plain.episodes.drop(columns="run"))


def _copy_with_lr(source: Path, target: Path, lr: float, drawn: bool) -> None:
    shutil.copytree(source, target)
    info = json.loads((target / "run.json").read_text())
    info["config"]["lr"] = lr
    info["choices"]["lr_sampling"] = "log_uniform" if drawn else None
    (target / "run.json").write_text(json.dumps(info))


def test_a_set_learning_rate_is_a_condition_and_a_drawn_one_is_not(sweep, tmp_path):
    sources = sorted(sweep.glob("*threads=1"))  # two seeds of one condition
    assert len(sources) == 2
    for index, source in enumerate(sources):
        _copy_with_lr(source, tmp_path / "set" / f"a_{index}", 1e-3, drawn=False)
        _copy_with_lr(source, tmp_path / "set" / f"b_{index}", 1e-2, drawn=False)
        _copy_with_lr(source, tmp_path / "drawn" / f"{index}", [2e-4, 5e-3][index], drawn=True)
    set_rates = load_results([tmp_path / "set"])
    assert "lr_set" in set_rates.conditions() and "lr" not in set_rates.conditions()
    assert sorted(set_rates.runs.groupby(set_rates.conditions()).size()) == [2, 2]
    drawn = load_results([tmp_path / "drawn"])
    assert drawn.runs["lr"].nunique() == 2 and drawn.runs["lr_set"].isna().all()
    assert "lr_set" not in drawn.conditions()


def test_a_run_written_before_a_setting_existed_counts_as_its_default(sweep, tmp_path):
    """Two seeds of one condition, one of them with its config as run.json held it before
    stop_return_episodes and evaluation.side_by_side existed."""
    sources = sorted(sweep.glob("*threads=1"))
    new = shutil.copytree(sources[0], tmp_path / "new")
    older = shutil.copytree(sources[1], tmp_path / "older")
    info = json.loads((older / "run.json").read_text())
    del info["config"]["stop_return_episodes"], info["config"]["evaluation"]["side_by_side"]
    (older / "run.json").write_text(json.dumps(info))
    results = load_results([tmp_path])
    assert results.runs.groupby(results.conditions(), dropna=False).size().tolist() == [2]
    assert results.runs["stop_return_episodes"].tolist() == [100, 100]
    # The newer run evaluated 5 episodes at once: the older one, at the default 1, is another condition.
    info = json.loads((new / "run.json").read_text())
    info["config"]["evaluation"]["side_by_side"] = 5
    (new / "run.json").write_text(json.dumps(info))
    results = load_results([tmp_path])
    assert "evaluation.side_by_side" in results.conditions()
    assert dict(zip(results.runs["run"], results.runs["evaluation.side_by_side"])) == {"new": 5, "older": 1}


def test_truncated_corrupt_and_unfinished_runs_are_skipped_with_one_line_each(damaged, caplog):
    with caplog.at_level(logging.WARNING, logger="analysis"):
        results = load_results([damaged])
    assert len(results.runs) == 4
    reasons = dict(results.skipped)
    assert set(reasons) == {str(damaged / name) for name in ("truncated", "corrupt", "running")}
    assert "episodes.csv" in reasons[str(damaged / "truncated")]
    assert "run.json cannot be read" in reasons[str(damaged / "corrupt")]
    assert "'running'" in reasons[str(damaged / "running")]
    assert len(caplog.records) == 3 and all("\n" not in record.getMessage() for record in caplog.records)


def _hand_made(returns_by_run):
    """Results of runs (threads, [(wall_seconds, return), ...]) on one game, for hand-computed cases."""
    runs = pd.DataFrame([{"run": f"r{index}", "algorithm": "a3c", "game": "cartpole", "threads": threads, "seed": index,
                          "final_score": float(episodes[-1][1])} for index, (threads, episodes) in enumerate(returns_by_run)])
    episodes = pd.DataFrame([{"run": f"r{index}", "T": step, "wall_seconds": seconds, "return": value, "game": "cartpole",
                              "threads": threads, "algorithm": "a3c"}
                             for index, (threads, rows) in enumerate(returns_by_run) for step, (seconds, value) in enumerate(rows)])
    return Results(runs, episodes, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), ["threads", "seed"])


def test_speedup_on_a_small_case_computed_by_hand():
    # window 2, reference 10: a run reaches it at the first episode whose mean with the one before is >= 10
    results = _hand_made([
        (1, [(1.0, 0), (2.0, 8), (3.0, 12), (4.0, 9)]),   # means 4 at 2.0 s, then (8 + 12) / 2 = 10 at 3.0 s
        (1, [(2.0, 5), (5.0, 15), (6.0, 20)]),            # (5 + 15) / 2 = 10 at 5.0 s
        (2, [(1.0, 10), (2.0, 10)]),                      # the first full window: 2.0 s
        (2, [(1.0, 0), (1.5, 4)]),                        # never
    ])
    per_game, summary = tables.speedup(results, {"cartpole": 10.0}, window=2)
    two = per_game.set_index("threads").loc[2]
    assert per_game.set_index("threads").loc[1, "seconds_to_reference"] == pytest.approx(4.0)  # (3 + 5) / 2
    assert (two["runs"], two["reached"], two["seconds_to_reference"]) == (2, 1, pytest.approx(2.0))
    assert two["speedup"] == pytest.approx(2.0)
    assert summary.set_index("threads").loc[2, "paper_speedup"] == paper.table2_speedup("a3c", 2) == 2.1


def test_time_to_reference_on_real_runs_matches_the_episode_files(sweep):
    results = load_results([sweep])
    window, reference = 10, 100.0
    times = tables.time_to_reference(results, {"cartpole": reference}, window=window).set_index("run")
    for run_dir in sorted(path for path in sweep.iterdir() if path.is_dir()):
        rows = sorted(read_csv(run_dir / "episodes.csv"), key=lambda row: (int(row["T"]), float(row["wall_seconds"])))
        returns = [float(row["return"]) for row in rows]
        expected = next((float(rows[i]["wall_seconds"]) for i in range(window - 1, len(rows))
                         if sum(returns[i - window + 1:i + 1]) / window >= reference), None)
        found = times.loc[run_dir.name, "seconds_to_reference"]
        assert found == pytest.approx(expected) if expected is not None else np.isnan(found)


def test_evaluation_milestones_on_a_small_case_computed_by_hand():
    # (T, wall_seconds, score, final) per evaluation episode; evaluation.episodes = 2
    evaluations = {"r0": [(1_000_000, 60, -21, False), (1_000_000, 70, -19, False),   # mean -20
                          (2_000_000, 130, -12, False), (2_000_000, 140, -6, False),  # mean -9 at 140 s: -10
                          (3_000_000, 200, 19, False),                              # cut short: not an evaluation
                          (3_000_000, 260, 19, True), (3_000_000, 270, 19, True)],  # final, 19 at 270 s: 0 and +18
                   "r1": [(500_000, 30, 0, False), (500_000, 40, 18, False),        # mean 9 at 40 s: -10 and 0
                          (800_000, 400, 18, True)]}                                # final cut short (its timeout)
    runs = pd.DataFrame([{"run": run, "root": "fast", "algorithm": "a3c", "game": "pong", "seed": seed,
                          "evaluation.episodes": 2, "wall_seconds": 300.0} for seed, run in enumerate(evaluations)])
    rows = pd.DataFrame([{"run": run, "T": T, "wall_seconds": seconds, "score": score, "final": final}
                         for run, episodes in evaluations.items() for T, seconds, score, final in episodes])
    table = tables.evaluation_milestones(Results(runs, pd.DataFrame(), rows, pd.DataFrame(), pd.DataFrame(), [])).set_index("run")
    assert table.loc["r0", ["M_frames_to_-10", "minutes_to_-10", "best_mean"]].tolist() == [2.0, pytest.approx(140 / 60), 19.0]
    assert table.loc["r0", ["M_frames_to_+0", "M_frames_to_+18", "minutes_to_+18"]].tolist() == [3.0, 3.0, pytest.approx(270 / 60)]
    assert table.loc["r1", ["M_frames_to_-10", "M_frames_to_+0", "minutes_to_+0"]].tolist() == [0.5, 0.5, pytest.approx(40 / 60)]
    assert np.isnan(table.loc["r1", "M_frames_to_+18"]) and table.loc["r1", "best_mean"] == 9.0
    assert table["evaluations"].tolist() == [3, 1]


def test_iqm_and_its_stratified_bootstrap_interval():
    assert iqm(np.array([0.0, 1, 2, 3, 4, 5, 6, 100])) == pytest.approx(3.5)  # the middle half: 2, 3, 4, 5
    point, low, high = iqm_with_ci([np.arange(10.0), np.arange(10.0) + 100, np.array([50.0])])
    assert low < point < high
    assert iqm_with_ci([np.array([7.0, 7.0, 7.0])]) == (7.0, 7.0, 7.0)
    assert np.isnan(iqm_with_ci([np.array([1.0]), np.array([2.0])])[1])


def test_table_1_rows_use_the_catalogue_normalisation_and_both_video_pinball_conventions():
    results = _hand_made([(2, [(1.0, 10)]), (2, [(1.0, 20)])])
    results.runs["game"] = ["pong", "video_pinball"]
    summary = tables.human_normalised_summary(results).set_index("method")
    ours = summary.loc["asyncbench: algorithm=a3c, threads=2"]
    assert (ours["mean_pct"], ours["median_pct"]) == pytest.approx(mean_and_median({"pong": 10.0, "video_pinball": 20.0}))
    a3c = summary.loc["paper Table S3 a3c_ff_4days, same games"]
    assert len(a3c) == 2 and a3c["mean_pct"].iloc[0] != a3c["mean_pct"].iloc[1]


def test_figure_1_shows_only_the_runs_with_the_most_threads(sweep):
    results = load_results([sweep])
    shown = _with_most_threads(results)
    assert set(shown.runs["threads"]) == {2} and len(shown.runs) == 2  # of the sweep's 1- and 2-thread runs
    assert set(shown.episodes["run"]) == set(shown.runs["run"])


# The figures a sweep at one learning rate and optimizer cannot support, and why
LEFT_OUT = {"figure2": "one learning rate (0.003)", "figure_s5": "one optimizer (shared_rmsprop)",
            "lstm": "no game was run with both A3C FF and A3C LSTM", "figure_s7": "no run of a continuous-control method",
            "figure_s8": "no run of a continuous-control method"}


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_renders_to_a_non_empty_image_or_says_why_it_is_left_out(sweep, tmp_path, name):
    results = load_results([sweep])
    if name in LEFT_OUT:
        assert LEFT_OUT[name] in FIGURES[name].left_out(results)
        return
    assert FIGURES[name].left_out(results) is None
    png, svg = save_figure(name, results, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert b"<svg" in svg.read_bytes()[:1000] and svg.stat().st_size > 10_000


@pytest.mark.parametrize("name", [name for name in FIGURES if name not in LEFT_OUT])
def test_every_figure_names_the_paper_figure_it_reproduces_and_the_task_above_its_panels(sweep, name):
    figure = draw_figure(name, load_results([sweep]))
    title = figure.get_suptitle()
    renderer = figure.canvas.get_renderer()
    title_bottom = figure._suptitle.get_window_extent(renderer).y0
    panels_top = max(axis.get_tightbbox(renderer).y1 for axis in figure.axes)
    plt.close(figure)
    assert title.startswith(FIGURES[name].title) and FIGURES[name].title.split(":")[0] in title
    assert "on cartpole; a3c; threads 1, 2;" in title and "4 runs" in title
    assert title_bottom > panels_top  # the title clear of every panel's title


@pytest.mark.parametrize("given, named", [
    ({}, "cartpole 195 (analysis/data/reference_scores.csv, mean of 100 episodes)"),
    ({"cartpole": 1e6}, "cartpole 1e+06 (--reference-score, mean of 100 episodes)"),  # never reached: the paper's still drawn
])
def test_the_table_2_figure_draws_the_paper_s_speedups_and_names_the_reference_score(sweep, given, named):
    results = load_results([sweep])
    figure = draw_figure("table2", results, tables.reference_scores(results, given))
    axis = figure.axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    plt.close(figure)
    assert list(lines["a3c: paper Table 2"].get_xdata()) == [1, 2]
    assert list(lines["a3c: paper Table 2"].get_ydata()) == [1.0, paper.table2_speedup("a3c", 2)]
    assert named in axis.get_title()


def _curves_figure(results, name):
    """The reference-score lines, subplot titles and legend title of a score-curve figure."""
    figure = draw_figure(name, results)
    references = {(line.get_label(), tuple(line.get_ydata())) for axis in figure.axes for line in axis.get_lines()
                  if line.get_label().startswith("reference score")}
    titles = [axis.get_title() for axis in figure.axes]
    legend = figure.legends[0].get_title().get_text()
    plt.close(figure)
    return references, titles, legend


def test_score_curves_mark_the_reference_score_and_never_call_fewer_than_k_runs_the_best_k(sweep, tmp_path):
    references, titles, legend = _curves_figure(load_results([sweep]), "figure3")  # 2 runs per thread count
    assert references == {("reference score 195", (195.0, 195.0))}
    assert not any("best" in title for title in titles) and "no group has the 3 runs" in legend
    for threads in (1, 2):  # three runs per thread count: now the best 3 of 3
        for seed in range(3):
            write_run(tmp_path / f"{threads}_{seed}", algorithm="a3c", game="cartpole", threads=threads, seed=seed,
                      episodes=[(1000 * step, step, 10.0 * step) for step in range(1, 6)], final_scores=[50.0 + seed])
    references, titles, legend = _curves_figure(load_results([tmp_path]), "figure3")
    assert references == {("reference score 195", (195.0, 195.0))}
    assert sum("mean of best 3 of N" in title for title in titles) == 1 and "best final score of N = 3" in legend


def test_the_thread_count_figures_draw_only_the_methods_and_games_run_at_two_thread_counts(tmp_path):
    """Figure 4 (wall-clock) also leaves out the runs with more threads than their host's 2 cores."""
    curve = [(1000 * step, step, 10.0 * step) for step in range(1, 6)]
    for name, algorithm, game, threads in [("a", "a3c", "cartpole", 1), ("b", "a3c", "cartpole", 2),
                                           ("e", "a3c", "cartpole", 4), ("c", "a3c", "pong", 2),
                                           ("d", "nstep_q", "cartpole", 2)]:
        write_run(tmp_path / name, algorithm=algorithm, game=game, threads=threads, episodes=curve, final_scores=[1.0])
    for name, drawn in (("figure3", ["1", "2", "4"]), ("figure4", ["1", "2"])):
        figure = draw_figure(name, load_results([tmp_path]))
        titles = [axis.get_title() for axis in figure.axes]
        threads = [text.get_text() for text in figure.legends[0].get_texts()]
        plt.close(figure)
        assert titles == ["cartpole | a3c\nall runs: mean, 95% CI"]  # not pong (one thread count), not nstep_q
        assert threads == drawn


@pytest.mark.slow
def test_the_report_command_writes_tables_figures_and_warnings(damaged, tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis", "report", str(damaged), "--out", str(tmp_path),
                           "--reference-score", "cartpole=50"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("analysis: warning: skipped") == 3
    report = (tmp_path / "report.md").read_text()
    for heading in ("Host and budget", "Versions", "Differences from the paper", "Table 2", "Table S3", "Table 1"):
        assert f"## {heading}" in report
    for name in FIGURES:
        drawn = (tmp_path / "figures" / f"{name}.svg").exists()
        assert drawn == (f"(figures/{name}.png)" in report) == (name not in LEFT_OUT)
    for name, reason in LEFT_OUT.items():
        assert f"## {FIGURES[name].title}\n\nLeft out: {FIGURES[name].left_out(load_results([damaged]))}.\n" in report
        assert reason in report
    with open(tmp_path / "tables" / "table2_speedup.csv", newline="") as file:
        speedups = {row["threads"]: row for row in csv.DictReader(file)}
    assert speedups["1"]["speedup"] == "1.0" and speedups["2"]["paper_speedup"] == "2.1"


@pytest.mark.parametrize("arguments, message", [
    (["report", "{empty}"], "no runs under"),
    (["report", "{empty}/missing"], "does not exist"),
    (["report", "{empty}", "--reference-score", "pong"], "expected GAME=SCORE"),
])
def test_bad_input_gives_one_line(tmp_path, arguments, message):
    done = subprocess.run([sys.executable, "-m", "analysis", *(a.format(empty=tmp_path) for a in arguments)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("preset", [pytest.param(name, marks=[pytest.mark.slow] if name.startswith("atari57") else [])
                                    for name in sorted(path.stem for path in (ROOT / "conf" / "experiment").glob("*.yaml"))])
def test_every_value_an_experiment_preset_sweeps_composes_and_validates(preset):
    """Each value of each axis the preset's sweep sets (seeds aside: they change no setting's validity),
    with the other axes at their first values, parsed by Hydra's own override parser, composes into a
    Config that passes every check: a typo in one of atari57's 57 games fails here, not in that job.
    An axis a preset inherits from another (atari57_quick's games, from atari57) is checked with the
    preset that declares it; here, at its first value."""
    params = compose_config([f"experiment={preset}"], with_hydra=True).hydra.sweeper.params or {}
    declared = yaml.safe_load((ROOT / "conf" / "experiment" / f"{preset}.yaml").read_text())
    declared = ((declared.get("hydra") or {}).get("sweeper") or {}).get("params") or {}
    parser = OverridesParser.create()
    axes = {key: list(parser.parse_override(f"{key}={values}").sweep_string_iterator())
            for key, values in params.items() if key != "seed"}
    first = {key: values[0] for key, values in axes.items()}
    jobs = {tuple({**first, key: value}.items()) for key, values in axes.items() if key in declared for value in values}
    jobs = jobs or {tuple(first.items())}
    for job in sorted(jobs):
        load_config([f"experiment={preset}", *(f"{key}={value}" for key, value in job)])
