"""TensorBoard's event files, read back with TensorBoard's own reader and checked against the CSV files
the same run wrote: real app, real processes."""

import contextlib
import json
import signal
import subprocess
import sys
from collections import defaultdict
from statistics import mean

import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from asyncbench.tensorboard import TensorBoardLog
from conftest import ROOT, read_csv, run_app
from test_faults import mount_tmpfs  # noqa: F401 (a fixture)
from test_sweeps import wait_for

QUICK = ("game=cartpole", "status_interval_seconds=2", "progress_interval_seconds=0.5")
KEEP_EVERY_EVENT = {event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}


def events(run_dir):
    reader = event_accumulator.EventAccumulator(str(run_dir), size_guidance=KEEP_EVERY_EVENT)
    reader.Reload()
    return reader


def scalars(reader, tag):
    """(step, value) of each point of `tag` (none where the run never wrote it)."""
    if tag not in reader.Tags()["scalars"]:
        return []
    return [(event.step, event.value) for event in reader.Scalars(tag)]


def column(rows, name):
    """(T, value) of each row where `name` has a value."""
    return [(int(row["T"]), float(row[name])) for row in rows if row[name] != ""]


def assert_same_points(points, expected):
    """The same steps in the same order, and the same values to the 6 digits the CSV files keep."""
    assert [step for step, _ in points] == [step for step, _ in expected]
    assert [value for _, value in points] == pytest.approx([value for _, value in expected], rel=1e-5, abs=1e-12)


@pytest.mark.slow
def test_every_record_of_the_csv_files_is_a_scalar_in_cleanrl_names_on_the_global_T(tmp_path):
    done = run_app(*QUICK, "frames=30000", "evaluation.interval_frames=10000", "evaluation.episodes=2",
                   f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr

    reader = events(tmp_path)
    episodes, progress = read_csv(tmp_path / "episodes.csv"), read_csv(tmp_path / "progress.csv")
    assert_same_points(scalars(reader, "charts/episodic_return"), column(episodes, "return"))
    assert_same_points(scalars(reader, "charts/episodic_length"), column(episodes, "length"))
    # Every number of every progress row, under CleanRL's name where it has one, else under charts/.
    named = {"fps": "charts/SPS", "lr": "charts/learning_rate", "policy_loss": "losses/policy_loss",
             "value_loss": "losses/value_loss", "entropy": "losses/entropy"}
    columns = [name for name in progress[0] if name != "T"]
    assert set(named) | {"wall_seconds", "updates", "episodes", "return_mean_100"} <= set(columns)
    for name in columns:
        assert_same_points(scalars(reader, named.get(name, f"charts/{name}")), column(progress, name))
    # Each evaluation's mean score, periodic ones and the final one.
    evaluations = defaultdict(list)
    for row in read_csv(tmp_path / "evaluations.csv"):
        evaluations[(int(row["T"]), row["final"])].append(float(row["score"]))
    assert len(evaluations) >= 3 and all(len(scores) == 2 for scores in evaluations.values())
    assert_same_points(scalars(reader, "eval/score"), [(T, mean(scores)) for (T, _), scores in evaluations.items()])
    # The resolved config, as text and as the HParams tab's hyperparameters.
    info = json.loads((tmp_path / "run.json").read_text())
    text = reader.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(text) == info["config"]
    session = HParamsPluginData.FromString(
        reader.SummaryMetadata("_hparams_/session_start_info").plugin_data.content).session_start_info
    assert session.hparams["lr"].number_value == pytest.approx(0.003)
    assert session.hparams["game.name"].string_value == "cartpole"
    assert session.hparams["max_seconds"].string_value == "null"


@pytest.mark.slow
def test_a_run_resumed_in_another_directory_continues_the_same_curves(tmp_path):
    # Interrupted by SIGTERM 1.5 s into its 4 s, the run is continued by the same command in another
    # directory: its event files there hold the first part's points, then the rest, once each.
    overrides = (*QUICK, "threads=1", "frames=100000000", "max_seconds=4", "evaluation.enabled=false",
                 "checkpoint_interval_seconds=1", f"resume.root={tmp_path}")
    first = subprocess.Popen([sys.executable, "-m", "asyncbench", *overrides, f"hydra.run.dir={tmp_path / 'first'}"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(tmp_path / "first/run.json", lambda info: info["summary"].get("wall_seconds", 0) >= 1.5)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    interrupted = json.loads((tmp_path / "first/run.json").read_text())
    assert interrupted["status"] == "interrupted"

    second = run_app(*overrides, f"hydra.run.dir={tmp_path / 'second'}")

    assert second.returncode == 0, second.stderr
    resumed = json.loads((tmp_path / "second/run.json").read_text())
    assert resumed["resumed_from"]["run_dir"] == str(tmp_path / "first")
    checkpoint_T = resumed["resumed_from"]["T"]
    reader = events(tmp_path / "second")
    episodes, progress = read_csv(tmp_path / "second/episodes.csv"), read_csv(tmp_path / "second/progress.csv")
    assert_same_points(scalars(reader, "charts/episodic_return"), column(episodes, "return"))
    sps = scalars(reader, "charts/SPS")
    assert_same_points(sps, column(progress, "fps"))
    assert min(T for T, _ in sps) < checkpoint_T < max(T for T, _ in sps)
    before = scalars(events(tmp_path / "first"), "charts/SPS")
    assert sps[:len(before)] == before
    assert len(reader.Tensors("config/text_summary")) == 1  # written once, by the first part


@pytest.mark.slow
def test_logger_tensorboard_false_writes_no_event_files(tmp_path):
    done = run_app(*QUICK, "frames=2000", "threads=1", "evaluation.enabled=false", "logger.tensorboard=false",
                   f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    assert read_csv(tmp_path / "episodes.csv") and not list(tmp_path.glob("events.out.tfevents.*"))


def test_a_full_disk_fails_a_write_with_an_os_error_naming_the_event_file(mount_tmpfs):
    run_dir = mount_tmpfs("size=64k")
    log = TensorBoardLog(run_dir, ("policy_loss",), {"lr": 0.003})
    with pytest.raises(OSError) as raised:
        for frames in range(100_000):  # some 50 bytes an episode: the disk fills within 2,000
            log.episode(frames, 1.0, 10)
            if frames % 100 == 0:
                log.progress({"T": frames, "fps": 1000.0})
    with contextlib.suppress(OSError):  # what is left in its buffer does not fit either
        log.close()

    assert raised.value.strerror == "No space left on device" and raised.value.filename == str(log.path)
