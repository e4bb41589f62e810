"""Disk and output faults: a full disk or a vanished folder while a render writes a frame, the
checkpoint, settings.yaml or the video stops it with exit 4, naming the file and the cause,
leaves no temp file and keeps the last good checkpoint; after space is freed, --resume ends
with the same bits as a run that was never interrupted."""

import errno
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from tiny import tiny_settings

from pytti_nb import run
from pytti_nb.cli import main
from pytti_nb.io import atomic
from pytti_nb.io.checkpoint import load_checkpoint

TINY = tiny_settings(display_every=4)
# The files a TINY render writes, in order (each through one atomic write).
WRITES = [
    "settings.yaml",
    "000001.png",
    "checkpoint.pt",
    "000002.png",
    "checkpoint.pt",
    "000003.png",
    "checkpoint.pt",
    "cost.json",
    "run.mp4",
]


def render(settings_file, root, *more):
    """`render` through the command line's entry point, in this process."""
    return main(["render", str(settings_file), "--out", str(root), "--quiet", *more])


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def partials(root):
    return [p for p in Path(root).rglob("*") if p.name.endswith(atomic.TEMP_SUFFIX)]


def assert_same_run(a: Path, b: Path):
    """Two run folders hold the same frames, bit for bit, and the same final state."""
    names = sorted(p.name for p in (a / "frames").glob("*.png"))
    assert names == sorted(p.name for p in (b / "frames").glob("*.png"))
    for name in names:
        assert np.array_equal(pixels(a / "frames" / name), pixels(b / "frames" / name)), name
    x, y = load_checkpoint(a), load_checkpoint(b)
    assert x["step"] == y["step"]
    for key in x["image"]:
        assert torch.equal(x["image"][key], y["image"][key])


@pytest.fixture(scope="module")
def settings_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("settings") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def whole(settings_file, tmp_path_factory):
    """The run folder of an uninterrupted render."""
    root = tmp_path_factory.mktemp("whole")
    assert render(settings_file, root) == 0
    return root / "run"


class FullDisk:
    """fsync_file that fails with ENOSPC at its `at`-th call (every atomic write fsyncs once,
    as a delayed-allocation file system reports a full disk)."""

    def __init__(self, at):
        self.at, self.calls, self.real = at, 0, atomic.fsync_file

    def __call__(self, path):
        self.calls += 1
        if self.calls == self.at:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(path)


@pytest.mark.parametrize("at", range(1, len(WRITES) + 1))
def test_a_full_disk_at_any_write_stops_with_exit_4_and_resume_is_exact(
    at, settings_file, whole, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(atomic, "fsync_file", FullDisk(at))
    assert render(settings_file, tmp_path) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err
    assert f"{WRITES[at - 1]}'" in err  # the file is named
    assert partials(tmp_path) == []
    monkeypatch.undo()
    folder = tmp_path / "run"
    if "checkpoint.pt" not in WRITES[: at - 1]:
        # nothing to resume from: the run folder is taken back whole, and a new render
        # starts again where the first did
        assert not folder.exists()
        assert render(settings_file, tmp_path) == 0
    else:
        assert f"--resume '{folder}'" in err
        saved = WRITES[: at - 1].count("checkpoint.pt")
        assert load_checkpoint(folder)["step"] == 4 * saved  # the last good checkpoint
        assert main(["render", "--resume", str(folder), "--quiet"]) == 0
    assert_same_run(folder, whole)
    assert (folder / "run.mp4").is_file() and partials(tmp_path) == []


def test_a_vanished_run_folder_stops_with_exit_4(settings_file, tmp_path, monkeypatch, capsys):
    real = run.save_checkpoint

    def then_vanish(run_dir, state):
        path = real(run_dir, state)
        shutil.rmtree(run_dir)
        return path

    monkeypatch.setattr(run, "save_checkpoint", then_vanish)
    assert render(settings_file, tmp_path) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err and "000002.png" in err and "moved or deleted" in err


def _mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a small tmpfs (needs root); whether it worked."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
    )
    return done.returncode == 0


def _fill(folder: Path) -> Path:
    """Fill a file system to the last byte; the filler file."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    size = 65536
    with open(filler, "wb", buffering=0) as f:
        while size:
            try:
                f.write(b"\0" * size)
            except OSError:
                size //= 2
    return filler


def test_a_real_full_file_system_then_resume_after_freeing_space(
    settings_file, whole, tmp_path, monkeypatch, capsys
):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "2m"):
        # CI runs as root on a machine that mounts tmpfs: there a skip would hide the test
        assert not os.environ.get("CI"), "could not mount a 2 MB tmpfs for the full-disk test"
        pytest.skip("mounting a small tmpfs needs root")
    try:
        fillers = []
        real = run.save_checkpoint

        def then_fill(run_dir, state):
            path = real(run_dir, state)
            if not fillers:  # the disk fills up after the first checkpoint
                fillers.append(_fill(disk))
            return path

        monkeypatch.setattr(run, "save_checkpoint", then_fill)
        assert render(settings_file, disk) == 4
        err = capsys.readouterr().err
        assert "Traceback" not in err and "No space left on device" in err
        assert partials(disk) == [] and load_checkpoint(disk / "run")["step"] == 4
        monkeypatch.undo()
        fillers[0].unlink()  # space is freed
        assert main(["render", "--resume", str(disk / "run"), "--quiet"]) == 0
        assert_same_run(disk / "run", whole)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
