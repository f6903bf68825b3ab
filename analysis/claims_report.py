"""The claims report: every claim of the paper with its verdict (`analysis.claims`), then under each of
the paper's tables and figures the figure drawn from the runs behind its claims, the policy lag, and what
the runs cost, with the commands that made them."""

from __future__ import annotations

import inspect
import math
import shlex
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from analysis import tables
from analysis.claims import CONSISTENT, INCONCLUSIVE, INCONSISTENT, NOT_MEASURED, ROBUST_SHARE, Claim, measure_claims, verdict
from analysis.figures import FIGURES, save_figure
from analysis.loading import Results
from analysis.statistics import BOOTSTRAP_RESAMPLES

FIGURES_DIR = Path("figures", "claims")
# Each source of claims (Claim.source) and the figure that shows it
FIGURE_OF_SOURCE = {"Table 2": "table2", "Figure 3/S9": "figure3", "Figure 4/S10": "figure4", "Figure 2/S11": "figure2",
                    "Figure S5": "figure_s5", "Table S3/Table 1": "lstm"}


def write_claims(results: Results, out: Path, command: str, given: Mapping[str, float] | None = None,
                 file_name: str = "claims.md") -> Path:
    """Write `file_name` (Markdown), claims.csv and the figures (figures/claims/, apart from `analysis report`'s
    figures/ of all the runs) into `out`; return the report's path."""
    (out / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    references = tables.reference_scores(results, given)
    claims = measure_claims(results, references)
    table = pd.DataFrame([{**{key: value for key, value in asdict(claim).items() if key not in ("measured", "run_ids")},
                           "verdict": claim.verdict} for claim in claims])
    table.to_csv(out / "claims.csv", index=False)
    counts = table["verdict"].value_counts()
    shown = pd.DataFrame({
        "claim": table["source"] + ": " + table["claim"], "paper": table["paper"],
        "ours [95% CI]": [_interval(claim) for claim in claims], "runs": table["runs"], "task and budget": table["task"],
        "verdict": table["verdict"], "note": table["note"]})
    lines = [f"# The paper's claims, re-measured: {len(results.runs)} runs", "",
             f"Written by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. The same rows, with each "
             "quantity's definition, are in `claims.csv`.", "",
             "Verdicts: " + ", ".join(f"{counts.get(name, 0)} {name}" for name in (CONSISTENT, INCONSISTENT, INCONCLUSIVE,
                                                                                    NOT_MEASURED)) + ".", "",
             "## Claims", "", tables.to_markdown(shown),
             "## The rule", "",
             f"Each claim is put as a quantity that lies above its no-effect value (a speedup above 1, a slope or a "
             f"difference above 0, a share above {ROBUST_SHARE:g}). Ours is that quantity on these runs with its 95% "
             f"percentile bootstrap interval ({BOOTSTRAP_RESAMPLES} resamples, each compared condition, such as one "
             "game's runs at one thread count, resampled on its own). The verdict (`analysis.claims.verdict`):", "",
             inspect.cleandoc(verdict.__doc__), "",
             "A claim the paper supports with a number in ours' units (Table 2's speedups) is judged against that "
             "number; the others against their no-effect value only. Times and frames to the reference score are "
             "the means over the runs that reached it (`runs`: how many did); a run that never reached it does "
             "not count, which flatters its condition. Where a Table 2 row has such runs, its note gives the "
             "speedup from median times as well, each of those runs counted at the seconds it ran (it took at "
             "least that long).", "",
             *_figures_by_claim(results, claims, references, out),
             *_reference_scores(results, references), *_policy_lag(results, out), *_compute(results)]
    path = out / file_name
    path.write_text("\n".join(lines))
    return path


def _interval(claim: Claim) -> str:
    if math.isnan(claim.ours):
        return ""
    if math.isnan(claim.ci_low):
        return f"{claim.ours:.3g} [no interval]"
    return f"{claim.ours:.3g} [{claim.ci_low:.3g}, {claim.ci_high:.3g}]"


def _figures_by_claim(results: Results, claims: list[Claim], references: pd.DataFrame, out: Path) -> list[str]:
    """Under each source of claims, its figure drawn from the runs its measured claims used, or why none is."""
    lines = ["## The figures, by claim", ""]
    for source, name in FIGURE_OF_SOURCE.items():
        lines += [f"### {source}", ""]
        runs = {run for claim in claims if claim.source == source for run in claim.run_ids}
        behind = results.subset(runs)
        why = "no claim of it was measured" if not runs else FIGURES[name].left_out(behind)
        if why:
            lines += [f"No figure: {why}.", ""]
            continue
        save_figure(name, behind, out / FIGURES_DIR, references)
        lines += [f"![{FIGURES[name].title}]({FIGURES_DIR / name}.png)", "", f"{FIGURES[name].caption} {len(runs)} runs.", ""]
    return lines


def _reference_scores(results: Results, references: pd.DataFrame) -> list[str]:
    lines = ["## Reference scores", "",
             "The score each game's runs must reach for Table 2 and Figures 3 and 4: the mean training return of the "
             "last `window` episodes, first reaching it.", "", tables.to_markdown(references)]
    missing = sorted(set(results.runs["game"]) - set(references["game"]))
    if missing:
        lines += [f"Games without a reference score (left out of Table 2 and Figures 3 and 4): {', '.join(missing)}; "
                  "give one with `--reference-score GAME=SCORE`.", ""]
    return lines


def _policy_lag(results: Results, out: Path) -> list[str]:
    lag = tables.policy_lag(results)
    if lag is None:
        return ["## Policy lag", "", "Not measured: no run records a policy lag (progress.csv's policy_lag_mean, "
                "policy_lag_p95 or run.json's summary.policy_lag).", ""]
    save_figure("policy_lag", results, out / FIGURES_DIR)
    return ["## Policy lag", "",
            "Shared-parameter updates by other workers between a worker's copy of the parameters and its own update: "
            "per run, the summary's mean and 95th percentile (else the mean over progress rows), then averaged over "
            "runs. More threads than cores makes it grow: a preempted worker returns to updates it has not seen.", "",
            tables.to_markdown(lag), f"![Policy lag against threads]({FIGURES_DIR / 'policy_lag'}.png)", ""]


def _compute(results: Results) -> list[str]:
    """Per sweep (the directory above its runs): the command that ran it, its runs, and the hours they took,
    wall-clock and core-hours (each run's wall-clock from its launch, times the cores its threads could use)."""
    runs = results.runs.assign(
        sweep=[str(Path(path).parent) for path in results.runs["path"]],
        hours=(results.runs["wall_seconds"] + results.runs["startup_seconds"].fillna(0)) / 3600)
    runs["core_hours"] = runs["hours"] * runs[["threads", "usable_cores"]].min(axis=1)
    rows = []
    for sweep, group in runs.groupby("sweep"):
        rows.append({"runs": str(len(group)), "wall-clock hours": f"{group['hours'].sum():.2f}",
                     "core-hours": f"{group['core_hours'].sum():.2f}", "cores": _cpus(group),
                     "command": f"`{_command(Path(sweep))}`"})
    total = (f"All {len(runs)} runs: {runs['hours'].sum():.2f} wall-clock hours, one run at a time; "
             f"{runs['core_hours'].sum():.2f} core-hours.")
    return ["## Runs, commands and compute", "", total, "", tables.to_markdown(pd.DataFrame(rows)),
            "Each sweep ran from a clean checkout at the commits its runs' `run.json` record (`git`), each run "
            "after the other; the sweep's own resume skips what it holds already. The commands name the sweeps' "
            "directories as they are here: a sweep may have run in a copy (docs/reproducing.md).", ""]


def _cpus(runs: pd.DataFrame) -> str:
    return "; ".join(f"{model} x {cores}" for (model, cores), _ in runs.groupby(["cpu_model", "usable_cores"]))


def _command(sweep: Path) -> str:
    """The command line that ran a sweep, from Hydra's multirun.yaml, with its directories (`hydra.sweep.dir`,
    `resume.root`) where the sweep is now: a sweep may have run in a copy and been moved in
    (docs/reproducing.md). The directory's name if there is no multirun.yaml."""
    try:
        overrides = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["overrides"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return str(sweep)
    here = {"hydra.sweep.dir": sweep, "resume.root": sweep.parent}

    def placed(override: str) -> str:
        key = override.split("=", 1)[0]
        return f"{key}={here[key]}" if key in here else override

    given = [*overrides.get("task", []), *overrides.get("hydra", [])]
    return shlex.join(["python", "-m", "asyncbench", "-m",
                       *[placed(override) for override in given if not override.startswith("hydra.mode=")]])
