"""Load the runs that `python -m asyncbench` wrote into tidy pandas DataFrames.

Every directory with a `run.json` under a results root is a run: single runs and multirun sweeps alike.
A run that did not complete, or whose files are missing, cut short or unreadable, is skipped with one
warning line naming it and why. The CSV files of all runs are parsed in one pass per file layout,
which keeps a thousand runs interactive.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asyncbench.algorithms import ALGORITHMS
from asyncbench.config import OPERATIONAL_SETTINGS, ConfigError, load_config
from asyncbench.progress_bar import progress_bar
from asyncbench.records import EPISODE_COLUMNS, EVALUATION_COLUMNS, PROGRESS_COLUMNS

log = logging.getLogger("analysis")

# The settings every table and figure groups by, read from each run's resolved config.
# lr_set: the learning rate where it was set, empty where it was drawn (lr_sampling): set rates make
# conditions, drawn ones are what a condition repeats over.
SETTING_COLUMNS = ("algorithm", "game", "threads", "t_max", "seed", "lr", "lr_set", "optimizer", "model", "frames",
                   "max_seconds")
HOST_COLUMNS = ("cpu_model", "cpu_count", "usable_cores", "hostname")
SUMMARY_COLUMNS = ("wall_seconds", "startup_seconds", "frames_per_second", "updates", "episodes",
                   "mean_return_last_100", "final_evaluation_mean")

# file name -> (table name, columns that must be present and filled in every row)
RUN_TABLES = {
    "episodes.csv": ("episodes", EPISODE_COLUMNS),
    "evaluations.csv": ("evaluations", EVALUATION_COLUMNS),
    "progress.csv": ("progress", ("T", "wall_seconds", "updates", "episodes")),
}
assert set(RUN_TABLES["progress.csv"][1]) <= set(PROGRESS_COLUMNS)


class NoRuns(ValueError):
    """Nothing to analyse; the message is one line naming the roots."""


@dataclass
class Results:
    """The runs under some results roots, one tidy table per kind of record.

    Attributes:
        runs: one row per run: `run` (its id), `path`, `root` (the name of the results root it was found
            under: with several roots, what tells them apart), every setting in SETTING_COLUMNS and any other
            setting that varies across the runs, the host facts, the run's summary, `final_score`, and
            `policy_lag_<statistic>` for each number in the summary's policy lag where a run measured it.
        episodes, evaluations, progress: one row per training episode, evaluation episode and progress
            sample, each with the run's `run` id and setting columns.
        versions: one row per run and package: `run`, `package`, `version`.
        varying: the setting columns whose values differ between runs.
        skipped: (run directory, reason) of every run left out.
    """

    runs: pd.DataFrame
    episodes: pd.DataFrame
    evaluations: pd.DataFrame
    progress: pd.DataFrame
    versions: pd.DataFrame
    varying: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def conditions(self, *without: str) -> list[str]:
        """The settings that make an experimental condition: algorithm (always, as every paper table names
        it) and the other varying settings but seed, lr and `without`.

        Seeds and drawn learning rates are what a condition is repeated over; a learning rate that was
        set is a condition, as `lr_set`.
        """
        return [column for column in dict.fromkeys(["algorithm", *self.varying]) if column not in ("seed", "lr", *without)]

    def subset(self, runs: Iterable[str]) -> Results:
        """These results with only the runs whose id is in `runs`, in every table."""
        keep = set(runs)
        return dataclasses.replace(self, **{name: table[table["run"].isin(keep)] if "run" in table else table for name, table in (
            ("runs", self.runs), ("episodes", self.episodes), ("evaluations", self.evaluations), ("progress", self.progress))})


class _Skip(Exception):
    """This run is left out; the message says why."""


def find_run_dirs(roots: Iterable[Path]) -> list[Path]:
    """Every directory holding a run.json under `roots`, sorted; NoRuns if a root does not exist."""
    found = []
    for root in roots:
        if not root.exists():
            raise NoRuns(f"{root} does not exist")
        found += sorted(path.parent for path in root.rglob("run.json"))
    return found


def load_results(roots: Iterable[Path | str]) -> Results:
    """Load every completed run under `roots` (see the module docstring), with a progress bar on a terminal.

    Args:
        roots: results directories: a single run, a sweep, or a folder of many.

    Raises:
        NoRuns: no run.json under the roots, or none of the runs could be used.
    """
    roots = [Path(root) for root in roots]
    run_dirs = find_run_dirs(roots)
    if not run_dirs:
        raise NoRuns(f"no runs under {', '.join(map(str, roots))} (no run.json found)")
    ids = _run_ids(run_dirs, roots)
    skipped: dict[int, str] = {}
    infos: dict[int, dict[str, Any]] = {}
    for index, run_dir in enumerate(progress_bar(run_dirs, description="reading runs", unit="run")):
        try:
            infos[index] = _read_run_json(run_dir)
        except _Skip as reason:
            skipped[index] = str(reason)
    tables = {}
    for file_name, (table, required) in RUN_TABLES.items():
        tables[table], bad = _read_csv_files(run_dirs, list(infos), file_name, required)
        skipped.update(bad)
    for index, reason in _episode_counts_disagree(tables["episodes"], infos).items():
        skipped.setdefault(index, reason)

    for index in sorted(skipped):
        log.warning("skipped %s: %s", run_dirs[index], skipped[index])
    kept = [index for index in infos if index not in skipped]
    if not kept:
        raise NoRuns(f"none of the {len(run_dirs)} runs under {', '.join(map(str, roots))} can be analysed")

    settings_rows = [infos[i]["settings"] for i in kept]
    runs = pd.concat([pd.DataFrame({"run": [ids[i] for i in kept], "path": [str(run_dirs[i]) for i in kept],
                                    "root": [_root_of(run_dirs[i], roots).name for i in kept]}),
                      pd.DataFrame(settings_rows), _facts_table([infos[i] for i in kept])], axis=1)
    varying = _varying_settings(runs, list(dict.fromkeys(key for row in settings_rows for key in row)))
    run_ids = pd.Series(ids)
    settings = runs.set_index("run")[list(dict.fromkeys([*SETTING_COLUMNS, *varying]))]
    for name, table in tables.items():
        table = table[table["run_index"].isin(kept)]
        # progress.csv's lr is the annealed rate at that moment; the setting lr is the initial one
        table = table.rename(columns={column: f"{column}_now" for column in table.columns if column in settings.columns})
        table.insert(0, "run", pd.Categorical(run_ids[table["run_index"]].to_numpy(), categories=runs["run"]))
        tables[name] = table.drop(columns="run_index").join(settings, on="run").reset_index(drop=True)
    runs["final_score"], runs["final_score_source"] = _final_scores(runs, tables["evaluations"])
    versions = pd.DataFrame([(ids[i], package, version) for i in kept for package, version in infos[i].get("versions", {}).items()],
                            columns=["run", "package", "version"])
    return Results(runs, tables["episodes"], tables["evaluations"], tables["progress"], versions, varying,
                   [(str(run_dirs[i]), skipped[i]) for i in sorted(skipped)])


def _run_ids(run_dirs: list[Path], roots: list[Path]) -> list[str]:
    """Each run's path relative to its root (prefixed with the root's name when there are several roots)."""
    ids = []
    for run_dir in run_dirs:
        root = _root_of(run_dir, roots)
        relative = run_dir.relative_to(root).as_posix()
        ids.append(f"{root.name}/{relative}" if len(roots) > 1 else relative if relative != "." else run_dir.name)
    return ids


def _root_of(run_dir: Path, roots: list[Path]) -> Path:
    return next(root for root in roots if run_dir == root or root in run_dir.parents)


def _read_run_json(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Skip(f"run.json cannot be read ({error})") from None
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict) or not isinstance(info.get("summary"), dict):
        raise _Skip("run.json lacks its config or summary")
    if info.get("status") != "completed":
        error = f" ({info['error']})" if info.get("error") else ""
        raise _Skip(f"status is {info.get('status')!r}, not 'completed'{error}")
    try:
        info["settings"] = _settings(info["config"], info.get("choices") or {})
    except (KeyError, TypeError) as error:
        raise _Skip(f"run.json's config has no {error} setting") from None
    return info


def _read_run_file(run_dir: Path, file_name: str) -> str:
    """A run's file as text: `file_name`, or `file_name`.gz where an archive of runs keeps it compressed
    (results/claims keeps episodes.csv so, to keep the repository small)."""
    compressed = run_dir / f"{file_name}.gz"
    if not (run_dir / file_name).exists() and compressed.exists():
        with gzip.open(compressed, "rt") as file:
            return file.read()
    return (run_dir / file_name).read_text()


def _read_csv_files(run_dirs: list[Path], indices: list[int], file_name: str,
                    required: tuple[str, ...]) -> tuple[pd.DataFrame, dict[int, str]]:
    """One table of file_name's rows of every run in `indices`, with a `run_index` column; and the runs whose file is bad.

    Files with the same header are concatenated and parsed by one read_csv call: one call per file
    would cost most of the load time of a large sweep.
    """
    bad: dict[int, str] = {}
    by_header: dict[str, list[tuple[int, str]]] = {}
    for index in indices:
        try:
            text = _read_run_file(run_dirs[index], file_name)
        except (OSError, EOFError, UnicodeDecodeError) as error:
            bad[index] = f"{file_name} cannot be read ({error.__class__.__name__}: {error})"
            continue
        header, _, body = text.partition("\n")
        missing = [column for column in required if column not in header.strip().split(",")]
        if missing:
            bad[index] = f"{file_name} has no column {', '.join(missing)}"
        elif body and not body.endswith("\n"):
            bad[index] = f"{file_name} ends in the middle of a row (cut short)"
        else:
            by_header.setdefault(header.strip(), []).append((index, body))
    parts = []
    for header, files in by_header.items():
        try:
            parts.append(_parse(header, files))
        except (pd.errors.ParserError, ValueError):  # find the culprits one file at a time
            for index, body in files:
                try:
                    parts.append(_parse(header, [(index, body)]))
                except (pd.errors.ParserError, ValueError) as error:
                    bad[index] = f"{file_name} cannot be parsed ({str(error).splitlines()[0]})"
    columns = ["run_index", *required]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    unfilled = table[table[list(required)].isna().any(axis=1)]["run_index"].unique()
    for index in unfilled:
        bad[int(index)] = f"{file_name} has rows with missing or non-numeric values"
    return table, bad


def _parse(header: str, files: list[tuple[int, str]]) -> pd.DataFrame:
    columns = header.split(",")
    rows = [body.count("\n") for _, body in files]
    table = pd.read_csv(io.StringIO("".join(body for _, body in files)), header=None, names=columns,
                        skip_blank_lines=False, true_values=["True"], false_values=["False"])
    if len(table) != sum(rows):
        raise ValueError(f"{len(table)} rows parsed where {sum(rows)} lines were read")
    for column in columns:
        if column != "final":  # the evaluation's final flag is a bool; every other column is a number
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table.insert(0, "run_index", np.repeat([index for index, _ in files], rows))
    return table


def _episode_counts_disagree(episodes: pd.DataFrame, infos: dict[int, dict[str, Any]]) -> dict[int, str]:
    """Runs whose episodes.csv has fewer or more rows than run.json counted: the file was cut or mixed up."""
    counted = episodes.groupby("run_index").size()
    disagree = {}
    for index, info in infos.items():
        expected, found = info["summary"].get("episodes"), int(counted.get(index, 0))
        if expected is not None and expected != found:
            disagree[index] = f"episodes.csv has {found} rows where run.json counts {expected} episodes"
    return disagree


def _settings(config: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:
    """A run's settings as flat columns: group choices by name (optimizer as the paper names it), the rest dotted.

    `choices` are Hydra's config group choices from run.json; a run recorded without them (written before
    run.json had them, or by `train` called directly) counts as having set its learning rate. A setting
    missing from an older run's config (added since) takes its default (`_defaults`).
    """
    flat = {**_defaults(config["algorithm"]["name"]), **_flatten(config)}
    optimizer = config["optimizer"]
    named = {
        "algorithm": config["algorithm"]["name"],
        "game": config["game"]["name"],
        "lr_set": None if choices.get("lr_sampling") else config["lr"],
        "model": config["model"]["name"],
        # shared_rmsprop and rmsprop are one optimizer with and without shared statistics (Figure S5's names)
        "optimizer": "shared_rmsprop" if optimizer["name"] == "rmsprop" and optimizer.get("shared_statistics") else optimizer["name"],
    }
    return {**flat, **named}


@cache
def _defaults(algorithm: str) -> dict[str, Any]:
    """The default settings of `algorithm=` outside the game, model and optimizer groups, flat.

    A setting is added with the default that keeps what asyncbench did before it (`stop_return_episodes`
    100, `evaluation.side_by_side` 1), so a run written before a setting existed ran as that default:
    filled in, it neither leaves its condition (100 against nothing) nor joins another (5 against nothing).
    """
    if algorithm not in ALGORITHMS:  # a method this version of asyncbench does not have: nothing to fill
        return {}
    try:
        flat = _flatten(dataclasses.asdict(load_config([f"algorithm={algorithm}"])))
    except ConfigError:
        return {}
    return {key: value for key, value in flat.items() if key.split(".")[0] not in ("game", "model", "optimizer")}


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value) if isinstance(value, list) else value
    return flat


def _facts_table(infos: list[dict[str, Any]]) -> pd.DataFrame:
    """Host, summary and provenance columns of each run."""
    rows = []
    for info in infos:
        host, summary = info.get("host") or {}, info["summary"]
        rows.append({**{column: host.get(column) for column in HOST_COLUMNS},
                     **{column: summary.get(column) for column in SUMMARY_COLUMNS},
                     "frames_done": summary.get("frames"), "started_at": info.get("started_at"),
                     "ended_at": info.get("ended_at"), "git_commit": (info.get("git") or {}).get("commit"),
                     **_policy_lag(summary)})
    return pd.DataFrame(rows)


def _policy_lag(summary: dict[str, Any]) -> dict[str, float]:
    """The run's policy lag summary as `policy_lag_<statistic>` columns (e.g. policy_lag_mean); none for a
    run recorded before the trainer measured it."""
    lag = summary.get("policy_lag")
    if not isinstance(lag, dict):
        return {}
    return {f"policy_lag_{name}": value for name, value in lag.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def _varying_settings(runs: pd.DataFrame, setting_columns: list[str]) -> list[str]:
    """The settings that differ between runs, leaving out those that follow from the named ones (game.env_id from
    game; never from a seed or a learning rate, which runs of one condition differ in)."""
    named = [column for column in SETTING_COLUMNS if runs[column].nunique(dropna=False) > 1]
    determining = [column for column in named if column not in ("seed", "lr")]  # nothing follows from a seed
    others = []
    for column in setting_columns:
        if column in SETTING_COLUMNS or column.startswith(OPERATIONAL_SETTINGS) or runs[column].astype(str).nunique() <= 1:
            continue
        follows = determining and (runs.groupby(determining, dropna=False)[column].nunique(dropna=False) <= 1).all()
        if not follows:
            others.append(column)
    return named + others


def _final_scores(runs: pd.DataFrame, evaluations: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each run's final score: the mean of its final evaluation, else of its last periodic one, else the
    mean training return of its last 100 episodes; and which of the three it is."""
    final = evaluations[evaluations["final"] == True].groupby("run", observed=True)["score"].mean()  # noqa: E712
    periodic = evaluations[evaluations["final"] == False]  # noqa: E712
    last = periodic[periodic["T"] == periodic.groupby("run", observed=True)["T"].transform("max")]
    last = last.groupby("run", observed=True)["score"].mean()
    score = runs["run"].map(final)
    source = pd.Series(np.where(score.notna(), "final evaluation", None), index=runs.index, dtype=object)
    fallback = score.isna() & runs["run"].map(last).notna()
    score, source = score.where(~fallback, runs["run"].map(last)), source.where(~fallback, "last evaluation")
    fallback = score.isna()
    score = score.where(~fallback, runs["mean_return_last_100"])
    source = source.where(~fallback, "training, last 100 episodes")
    return score.astype(float), source
