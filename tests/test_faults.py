"""A results directory that fills up or is read-only: one clear line, no corrupted file.

The file systems are real: a small tmpfs that the run fills, and one mounted read-only. Mounting
needs root (or CAP_SYS_ADMIN); elsewhere these tests skip.
"""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from asyncbench.checkpoint import CHECKPOINT_NAME, Checkpoint, save_torch_atomically
from conftest import read_csv, run_app
from test_app import alive


@pytest.fixture
def mount_tmpfs(tmp_path):
    """mount_tmpfs(options) -> the directory of a fresh tmpfs mounted with `options`; unmounted after."""
    mounted = []

    def mount(options):
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_line_and_leaves_every_file_whole(mount_tmpfs):
    run_dir = mount_tmpfs("size=300k") / "run"  # fills within seconds: checkpoints every second hold the CSVs and event files
    done = run_app("frames=1000000000", "max_seconds=60", "checkpoint_interval_seconds=1",
                   "progress_interval_seconds=0.2", f"hydra.run.dir={run_dir}", timeout=120)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"asyncbench: error: No space left on device: {run_dir}/"), last
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and last.endswith(info["error"])
    assert info["summary"]["wall_seconds"] < 50  # it stopped when the disk filled, long before its budget
    for name in ("episodes.csv", "progress.csv", "evaluations.csv"):
        text = (run_dir / name).read_text()
        rows = read_csv(run_dir / name)
        assert text.endswith("\n") and all(None not in row.values() and None not in row for row in rows), name
    # The checkpoint is the last one written whole; a half-written one never replaced it.
    assert Checkpoint.load(run_dir / CHECKPOINT_NAME).frames == info["checkpoint"]["T"]
    assert not list(run_dir.glob(".*.tmp"))
    assert not any(alive(worker["pid"]) for worker in info["workers"])


@pytest.mark.parametrize("mode", ["run", "sweep"])
def test_a_read_only_results_directory_fails_with_one_line(mount_tmpfs, mode):
    results = mount_tmpfs("size=64k,ro")
    if mode == "run":
        done = run_app("frames=20000", f"hydra.run.dir={results / 'run'}")
    else:
        done = run_app("-m", "seed=0,1", "frames=20000", f"hydra.sweep.dir={results / 'sweep'}")

    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"asyncbench: error: Read-only file system: {results / mode}"]
    assert not list(Path(results).iterdir())


def test_a_weights_file_that_does_not_fit_fails_as_a_full_disk_and_keeps_the_old_file(mount_tmpfs):
    # torch.save straight into a file turns ENOSPC into a RuntimeError from its zip writer; the run
    # must see the OSError, to stop with "No space left on device: <file>".
    directory = mount_tmpfs("size=64k")
    path = directory / "model.pt"
    save_torch_atomically({"small": torch.zeros(8)}, path)
    with pytest.raises(OSError) as raised:
        save_torch_atomically({"large": torch.zeros(64 * 1024)}, path)  # 256 KiB

    assert raised.value.strerror == "No space left on device" and raised.value.filename == str(path)
    assert torch.load(path, weights_only=True)["small"].shape == (8,)
    assert [file.name for file in directory.iterdir()] == ["model.pt"]
