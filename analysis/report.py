"""One self-contained Markdown report of a sweep: host, budget, versions, differences from the paper,
the paper's tables (also as CSV) and figures (PNG and SVG) beside it."""

from __future__ import annotations

import importlib.metadata
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis import paper, tables
from analysis.figures import FIGURES, save_figure, task
from analysis.loading import Results
from asyncbench.atari import catalogue
from asyncbench.video import BEST_GIF, VIDEO_DIR

ANALYSIS_PACKAGES = ("pandas", "numpy", "scipy", "matplotlib", "seaborn")


def write_report(results: Results, out: Path, command: str, given: Mapping[str, float] | None = None) -> Path:
    """Write report.md, tables/ and figures/ into `out`; return the report's path. `given`: reference
    scores by game that replace the runs' own (see tables.reference_scores)."""
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    references = tables.reference_scores(results, given)
    reference_scores = dict(zip(references["game"], references["reference_score"]))
    per_game, summary = tables.speedup(results, reference_scores, dict(zip(references["game"], references["window"])))
    table_sections = [
        ("table2_speedup", "Table 2: speedup with n threads, averaged over games", summary,
         "Speedup = mean time for the 1-thread runs to reach the reference score / the same for n threads, per "
         "game, then averaged over the games where both reached it; `paper_speedup` is the paper's Table 2 "
         f"(7 games, 16-core machine). The score is the mean training return of the last {tables.SPEEDUP_WINDOW} "
         "episodes; time is wall-clock after start-up."),
        ("table2_speedup_per_game", "Table 2, per game", per_game,
         "`reached` of `runs` reached the reference score; the time is the mean over those that did. A blank "
         "speedup means no run reached the score on one side: the runs never reached it."),
        ("table_s3_scores", "Table S3: final scores per game, next to the paper's", tables.final_scores(results),
         "Final score of a run: mean of its final evaluation (no-op starts). IQM: interquartile mean over the "
         "runs, with a 95% percentile bootstrap interval. The paper's columns are human-starts scores."),
        ("evaluation_milestones", "Time to evaluation milestones", tables.evaluation_milestones(results),
         "Per run of a game with milestones (Pong: -10, 0, +18): the frames (millions) and wall-clock minutes after "
         "start-up at which the evaluator's mean score first reached each, timed when that evaluation ended; the "
         "evaluation of the final weights counts too (after a wall-clock budget it ends past the budget). "
         "`evaluations` counts both kinds. Blank: never reached."),
        ("table1_human_normalised", "Table 1: human-normalised scores", tables.human_normalised_summary(results),
         "Ours: no-op starts, normalised with the no-op baselines; IQM over all runs with a bootstrap stratified "
         "by game. Paper rows: recomputed from Table S3 on the same games with the human-starts baselines, under "
         "both Video Pinball conventions (the paper's 57-game rows match only with Video Pinball as score / "
         "human), then Table 1 as printed. Empty when no Atari game was run."),
    ]
    lines = [f"# asyncbench report: {len(results.runs)} runs", "",
             f"Written by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Tables are also in "
             "`tables/` as CSV, figures in `figures/` as PNG and SVG.", ""]
    lines += _runs_section(results) + _host_section(results) + _differences_section(results)
    for name, title, table, note in table_sections:
        table.to_csv(out / "tables" / f"{name}.csv", index=False)
        markdown = tables.to_markdown(table)
        (out / "tables" / f"{name}.md").write_text(markdown)
        lines += [f"## {title}", "", note, "", markdown if len(table) else "(no rows)\n", f"CSV: `tables/{name}.csv`", ""]
    lines += ["## Reference scores (Table 2)", "",
              "The paper never gives its reference scores; these are the `--reference-score` given, else the runs' "
              "own `stop_return`, else asyncbench's defaults (`analysis/data/reference_scores.csv`, each with its "
              "reason); `window`: the training episodes whose mean return must reach it.", "",
              tables.to_markdown(references)]
    for name, figure in FIGURES.items():
        reason = figure.left_out(results)
        if reason:
            lines += [f"## {figure.title}", "", f"Left out: {reason}.", ""]
            continue
        save_figure(name, results, out / "figures", references)
        lines += [f"## {figure.title}", "", f"{figure.caption} Measured {task(results)}.", "",
                  f"![{figure.title}](figures/{name}.png)", ""]
    lines += _videos_section(results, out / "figures")
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report


def _runs_section(results: Results) -> list[str]:
    counts = results.runs.groupby(["game", *results.conditions("game")], dropna=False).size().reset_index(name="runs")
    lines = ["## Runs", "", f"{len(results.runs)} runs loaded; settings that vary: "
             f"{', '.join(results.varying) or 'none'}.", "", tables.to_markdown(counts)]
    if results.skipped:
        lines += [f"{len(results.skipped)} runs skipped:", ""] + [f"- `{path}`: {reason}" for path, reason in results.skipped] + [""]
    return lines


def _host_section(results: Results) -> list[str]:
    runs = results.runs
    hosts = runs.groupby(["hostname", "cpu_model", "usable_cores"], dropna=False).size().reset_index(name="runs")
    keys = ["game", *results.conditions("game")]
    budget = runs.groupby(keys, dropna=False).agg(**{
        name: aggregate for name, aggregate in {
            "frames": ("frames", "first"), "max_seconds": ("max_seconds", "first"),
            "mean_frames_done": ("frames_done", "mean"), "mean_wall_seconds": ("wall_seconds", "mean"),
            "mean_frames_per_second": ("frames_per_second", "mean")}.items() if name not in keys}).reset_index()
    total_hours = (runs["wall_seconds"].sum() + pd.to_numeric(runs["startup_seconds"]).fillna(0).sum()) / 3600
    versions = (results.versions.groupby("package")["version"].agg(lambda seen: ", ".join(sorted(set(map(str, seen)))))
                .reset_index())
    analysis_versions = pd.DataFrame([(package, importlib.metadata.version(package)) for package in ANALYSIS_PACKAGES],
                                     columns=["package", "version"])
    commits = ", ".join(sorted(runs["git_commit"].dropna().str[:12].unique())) or "unknown"
    return ["## Host and budget", "", tables.to_markdown(hosts),
            f"Training time of all runs together: {total_hours:.2f} hours (start-up included), runs one after another. "
            f"Git commits: {commits}.", "", tables.to_markdown(budget),
            "## Versions", "", "Of the runs (from run.json):", "", tables.to_markdown(versions),
            "Of this analysis:", "", tables.to_markdown(analysis_versions)]


def _differences_section(results: Results) -> list[str]:
    runs = results.runs
    cores = sorted(runs["usable_cores"].dropna().astype(int).unique())
    threads = sorted(runs["threads"].unique())
    not_paper = sorted(set(runs["game"]) - set(catalogue()))
    lines = ["## Differences from the paper", "",
             f"- Cores: {', '.join(map(str, cores))} usable here, against the paper's {paper.PAPER_THREADS} CPU cores "
             f"(S8); threads run here: {', '.join(map(str, threads))} (paper: 1 to 16). With more threads than cores "
             "the threads share cores and the speedup measures contention.",
             "- Evaluation: no-op starts (up to 30 no-ops) and the no-op baselines; the paper used human starts, "
             "which are not public, so the scores are not directly comparable.",
             f"- Budget: at most {runs['frames_done'].max():,.0f} frames per run; the paper's Figure 3 runs 40 "
             "epochs (160M frames) and its 57-game runs 1 or 4 days on 16 cores.",
             f"- Runs per condition: {runs.groupby(results.conditions()).size().max()} (paper: 50 per game with "
             "learning rates from LogUniform(1e-4, 1e-2) for Figures 1-4, S5, S9-S11).",
             "- Curves are training returns (last 100 episodes); the paper's figures do not say whether they "
             "show training or evaluation scores."]
    if not_paper:
        lines.append(f"- Games not in the paper: {', '.join(not_paper)}; no paper numbers exist for them.")
    if runs["lr"].nunique() == 1:
        lines.append(f"- One learning rate ({runs['lr'].iloc[0]:g}) for every run; the paper draws it per run, so "
                     "its best-k-of-N curves pick among learning rates where these pick among seeds.")
    return lines + [""]


def _videos_section(results: Results, figures: Path) -> list[str]:
    """The best-scoring episode of the best run of each game (highest final score) among the runs
    whose episodes were recorded, copied beside the figures."""
    lines = ["## The agent playing", ""]
    runs = results.runs.assign(gif=[Path(path) / VIDEO_DIR / BEST_GIF for path in results.runs["path"]])
    recorded = runs[[gif.exists() for gif in runs["gif"]]]
    if recorded.empty:
        return lines + ["No run has recorded episodes: `python -m asyncbench.reevaluate RUN_DIR --video` records "
                        "a run's (docs/video.md).", ""]
    for game, game_runs in recorded.groupby("game"):
        best = game_runs.sort_values("final_score", ascending=False, na_position="last").iloc[0]
        shutil.copyfile(best["gif"], figures / f"{game}_{BEST_GIF}")
        lines += [f"{game}: the best-scoring recorded episode of `{best['path']}` (final score "
                  f"{best['final_score']:g}).", "", f"![{game} played by the agent](figures/{game}_{BEST_GIF})", ""]
    return lines
