"""Tests for atomic writes, versions, PNG metadata, run-folder namespaces and video assembly."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import pytti_nb
from pytti_nb.errors import MediaError, OutputError
from pytti_nb.io import atomic, png_meta, run_folder, video_out
from pytti_nb.io.atomic import atomic_write_bytes, atomic_write_text
from pytti_nb.io.namespace import validate_namespace
from pytti_nb.io.png_meta import png_bytes, read_png_metadata
from pytti_nb.io.run_folder import check_writable, claim_run_dir
from pytti_nb.io.run_writer import RunWriter
from pytti_nb.io.versions import distribution_version, environment_versions


def leftovers(folder):
    """Names of atomic-write temp files left in `folder`."""
    return [p.name for p in folder.iterdir() if p.name.endswith(atomic.TEMP_SUFFIX)]


def sample_metadata():
    """A metadata dict like the engine's, with unicode, floats, lists and nesting."""
    settings = {
        "scenes": "a café at night | 猫:2",
        "steps_per_frame": 50,
        "cutout_border": 0.25,
        "stop": -math.inf,
        "zoom": [1.0, 1.5e-7, -3],
        "nested": {"deep": {"list": [{"x": None}, True, "é"]}},
    }
    return {"settings": settings, "seed": 1234, "step": 150, "frame": 3, "versions": {"a": "1"}}


def gradient_image(w=9, h=7):
    """A small uint8 RGB image with distinct pixel values."""
    return (np.arange(h * w * 3, dtype=np.uint32).reshape(h, w, 3) * 7 % 256).astype(np.uint8)


# --- atomic.py ---------------------------------------------------------------------------


def test_atomic_write_replaces_content(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    atomic_write_text(tmp_path / "t.txt", "héllo")
    assert target.read_bytes() == b"new"
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert leftovers(tmp_path) == []


def test_crash_at_rename_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def crash(*args):
        raise OSError("simulated crash")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_interrupt_mid_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def interrupted(path):
        assert path.read_bytes() == b"new"  # the data went to the temp file, not the target
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "fsync_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_atomic_write_respects_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644


# --- versions.py -------------------------------------------------------------------------


def test_environment_versions():
    import torch

    versions = environment_versions()
    assert set(versions) == {"python", "pytti_nb", "torch", "open_clip", "numpy", "pillow"}
    assert versions["pytti_nb"] == pytti_nb.__version__
    assert versions["numpy"] == np.__version__
    assert versions["torch"] == torch.__version__.split("+")[0]
    assert distribution_version("surely-not-installed-pytti-xyz") == "absent"


# --- PNG metadata ------------------------------------------------------------------------


def test_png_metadata_round_trip_and_pixels(tmp_path):
    img = gradient_image()
    meta = sample_metadata()
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(img, meta))
    assert read_png_metadata(path) == meta
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), img)  # PNG is lossless
        assert "a café at night" in im.info[png_meta.SUMMARY_KEY]
        assert "seed: 1234" in im.info[png_meta.SUMMARY_KEY]


def test_png_accepts_pil_and_rejects_bad_arrays(tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(png_bytes(Image.fromarray(gradient_image()).convert("RGBA"), {"seed": 1}))
    assert read_png_metadata(path) == {"seed": 1}
    with pytest.raises(TypeError, match="uint8 HxWx3"):
        png_bytes(np.zeros((4, 4, 3), np.float32), {})


def test_png_metadata_must_be_json(tmp_path):
    meta = sample_metadata()
    meta["settings"]["nested"]["bad"] = {1, 2}
    with pytest.raises(OutputError, match=r"\['settings'\]\['nested'\]\['bad'\] \(set\)"):
        png_bytes(gradient_image(), meta)


def test_read_png_metadata_errors(tmp_path):
    with pytest.raises(OutputError, match="no such file"):
        read_png_metadata(tmp_path / "missing.png")
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(OutputError, match="not a readable image"):
        read_png_metadata(tmp_path / "t.png")
    Image.fromarray(gradient_image()).save(tmp_path / "j.png", format="JPEG")
    with pytest.raises(OutputError, match="JPEG file, not a PNG"):
        read_png_metadata(tmp_path / "j.png")
    Image.fromarray(gradient_image()).save(tmp_path / "foreign.png")
    with pytest.raises(OutputError, match="not written by pytti_nb"):
        read_png_metadata(tmp_path / "foreign.png")


# --- namespaces --------------------------------------------------------------------------

BAD_NAMESPACES = [
    ("../x", "leave"),
    ("/abs", "absolute"),
    ("a/../../b", "leave"),
    ("..", "leave"),
    (".", "leave"),
    ("", "empty"),
    ("   ", "empty"),
    ("a//b", "empty folder name"),
    ("a/", "empty folder name"),
    ("bad:name", "':'"),
    ("x*y?", r"'\*\?'"),
    ("back\\slash", "character"),
    ('a"b', "character"),
    ("a|b<c>", "character"),
    ("tab\there", "character"),
    (" lead", "space"),
    ("trail.", "ends in '.'"),
    ("CON", "device name"),
    ("runs/nul.txt", "device name"),
    ("com1", "device name"),
    (5, "must be text"),
]


@pytest.mark.parametrize("ns,problem", BAD_NAMESPACES)
def test_bad_namespaces_rejected(ns, problem):
    with pytest.raises(OutputError, match=problem) as info:
        validate_namespace(ns)
    message = str(info.value)
    assert message.startswith(f"file_namespace {ns!r} ")
    assert "letters, digits" in message


def claimed(root, ns, allow_overwrite) -> Path:
    """The run folder a render of `ns` claims under root (its lock given back)."""
    run_dir, lock, _ = claim_run_dir(root, ns, allow_overwrite)
    lock.release()
    return run_dir


@pytest.mark.parametrize(
    "ns",
    [
        "default",
        "my_run",
        "tests/run_1",
        "Run (2).v-3",
        "ünï",  # PyTTI took any name; every OS stores these
        "exp_stability_modes_dsw-0.5_ssw-0.0",  # pytti-book's permutations
        "a [b] #1 & 50% 'c', d=e+f! @g ~h {i} $j",
        "console",
    ],
)
def test_good_namespaces_accepted(ns, tmp_path):
    validate_namespace(ns)
    assert claimed(tmp_path, ns, False) == (tmp_path / ns).resolve()


def test_run_dir_suffixes_without_overwrite(tmp_path):
    first = claimed(tmp_path, "a/run", False)
    assert first == tmp_path.resolve() / "a" / "run" and first.is_dir()
    assert claimed(tmp_path, "a/run", False) == first  # empty folder: nothing to protect
    written = RunWriter(first, fps=1, overwrite=False)
    written.write_settings("a: 1\n")
    written.release()
    second = claimed(tmp_path, "a/run", False)
    assert second.name == "run(1)" and second.is_dir()
    (second / "settings.yaml").write_text("a: 1\n")  # by hand: no render wrote it
    assert claimed(tmp_path, "a/run", False).name == "run(2)"
    assert claimed(tmp_path, "a/run", True) == first  # a render's own files: reused
    run_dir, lock, notes = claim_run_dir(tmp_path, "a/run(1)", True)
    lock.release()
    assert run_dir.name == "run(1)(1)" and "'settings.yaml'" in notes[0]
    assert (second / "settings.yaml").read_text() == "a: 1\n"


def test_symlink_escape_rejected(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for ns in ("link", "link/sub"):
        with pytest.raises(OutputError, match="outside the output folder"):
            claimed(root, ns, True)
    (root / "run").mkdir()
    (root / "run" / "f").write_bytes(b"x")
    (root / "run(1)").symlink_to(outside)  # the first free suffix must not escape either
    with pytest.raises(OutputError, match="outside the output folder"):
        claimed(root, "run", False)
    assert list(outside.iterdir()) == []


def test_check_writable_errors(tmp_path, monkeypatch):
    check_writable(tmp_path / "new" / "dir")
    assert (tmp_path / "new" / "dir").is_dir() and list((tmp_path / "new" / "dir").iterdir()) == []
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="'.*file/sub' is not writable: Not a directory"):
        check_writable(tmp_path / "file" / "sub")

    def denied(path):
        raise PermissionError(13, "Permission denied")

    # Tests run as root, where chmod 0o500 does not stop writes, so simulate EACCES instead.
    monkeypatch.setattr(run_folder, "temp_path_for", denied)
    with pytest.raises(OutputError, match="is not writable: Permission denied"):
        check_writable(tmp_path)


# --- RunWriter ---------------------------------------------------------------------------


def solid(rgb, w=17, h=11):
    """A solid-colour uint8 image of odd size."""
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def test_frames_named_in_order_with_metadata(tmp_path):
    writer = RunWriter(tmp_path / "run", fps=12, overwrite=False)
    for index in (10, 2, 0, 1000000):
        writer.write_save(index, gradient_image(), {"frame": index})
    names = [p.name for p in writer.save_paths()]
    assert names == ["000000.png", "000002.png", "000010.png", "1000000.png"]
    assert read_png_metadata(writer.saves_dir / "000010.png") == {"frame": 10}
    assert writer.write_settings("seed: 1\n").read_text() == "seed: 1\n"
    assert leftovers(writer.saves_dir) == []


def test_no_video_for_single_frame(tmp_path):
    writer = RunWriter(tmp_path / "run", fps=12, overwrite=False)
    writer.write_save(0, solid((255, 0, 0)), {})
    assert writer.finish() is None
    assert list(tmp_path.glob("run/*.mp4")) == []


def test_video_is_h264_yuv420p_with_frames_in_order(tmp_path):
    writer = RunWriter(tmp_path / "my run", fps=10, overwrite=False)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for index, rgb in enumerate(colours):
        writer.write_save(index, solid(rgb), {"frame": index})
    video = writer.finish()
    assert video == tmp_path / "my run" / "my run.mp4"
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(video)],
        capture_output=True,
        text=True,
    ).stderr
    assert re.search(r"Video: h264 .*yuv420p.* 16x10", probe), probe  # odd 17x11 cropped to even
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    assert meta["size"] == (16, 10) and meta["fps"] == 10
    frames = [np.frombuffer(f, np.uint8).reshape(10, 16, 3) for f in reader]
    assert len(frames) == 3
    for frame, rgb in zip(frames, colours, strict=True):
        assert np.abs(frame.mean(axis=(0, 1)) - rgb).max() < 12  # right colour, right order
    assert leftovers(tmp_path / "my run") == []


def test_video_and_gif_are_made_in_a_folder_of_any_allowed_name(tmp_path):
    name = "a [b] #1 & 50% 'c' ünï"  # ffmpeg reads no pattern or protocol in it
    validate_namespace(name)
    writer = RunWriter(tmp_path / name, fps=10, overwrite=False, gif=True)
    for index in range(2):
        writer.write_save(index, solid((index * 200, 0, 0)), {"frame": index})
    assert writer.finish() == tmp_path / name / f"{name}.mp4"
    assert (tmp_path / name / f"{name}.mp4").stat().st_size > 0
    assert (tmp_path / name / f"{name}.gif").stat().st_size > 0


def test_video_rejects_frames_of_different_sizes(tmp_path):
    writer = RunWriter(tmp_path / "run", fps=10, overwrite=False)
    writer.write_save(0, solid((0, 0, 0)), {})
    writer.write_save(1, solid((0, 0, 0), w=20), {})
    with pytest.raises(OutputError, match="000001.png' is 20x11 but the first frame is 17x11"):
        writer.finish()
    assert not writer.video_path.exists() and leftovers(writer.run_dir) == []


def test_overwrite_removes_only_our_stale_files(tmp_path):
    run = tmp_path / "run"
    old = RunWriter(run, fps=10, overwrite=False)
    for index in range(3):
        old.write_save(index, solid((index, 0, 0)), {})
    old.write_settings("old")
    old.finish()
    (run / "checkpoint.pt").write_bytes(b"state")
    old.recorded(run / "checkpoint.pt")  # as run.py records the checkpoints it saves
    (run / ".checkpoint.pt.0123456789ab.partial").write_bytes(b"st")  # a killed write's

    resumed = RunWriter(run, fps=10, overwrite=False)  # resuming keeps everything
    resumed.write_save(7, solid((7, 0, 0)), {})
    assert len(resumed.save_paths()) == 4 and (run / "checkpoint.pt").exists()
    assert resumed.run_id == old.run_id  # one run, one record
    resumed.release()

    again = RunWriter(run, fps=10, overwrite=True)
    again.release()
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == ["frames"]
    assert again.run_id != old.run_id  # a new run in the reused folder


@pytest.mark.parametrize("foreign", ["notes.txt", "frames/keep.txt", "frames/mine.png"])
def test_overwrite_leaves_a_folder_holding_other_files_alone(tmp_path, foreign):
    run = tmp_path / "run"
    old = RunWriter(run, fps=10, overwrite=False)
    old.write_save(0, solid((1, 0, 0)), {})
    old.finish()
    (run / foreign).write_bytes(b"x")
    before = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    with pytest.raises(
        OutputError, match="did not write there or which changed since.*nothing was deleted"
    ):
        RunWriter(run, fps=10, overwrite=True)
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == before
    claimed, lock, notes = claim_run_dir(tmp_path, "run", True)
    lock.release()
    assert claimed.name == "run(1)" and "did not write" in notes[0]


@pytest.mark.parametrize("fps", [0, -1, math.nan, math.inf, "12", True])
def test_bad_fps_rejected(tmp_path, fps):
    with pytest.raises(OutputError, match="frames_per_second must be a positive number"):
        RunWriter(tmp_path, fps=fps, overwrite=False)


def test_a_sound_ffmpeg_cannot_mux_is_a_media_error_and_keeps_the_silent_video(tmp_path):
    frames = []
    for i in range(3):
        frames.append(tmp_path / f"{i}.png")
        Image.new("RGB", (16, 16), (80 * i, 0, 0)).save(frames[-1])
    video = tmp_path / "run.mp4"
    video_out.assemble_video(frames, video, fps=12)
    silent = video.read_bytes()
    for name, data in (("notes.wav", b"RIFF not a sound"), ("empty.flac", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(MediaError, match=r"^input_audio: cannot put the sound of .*kept"):
            video_out.mux_audio(video, tmp_path / name, 0.0, 0.25)
        assert video.read_bytes() == silent
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".partial"] == []


def test_run_folders_and_settings_files_need_no_torch():
    """The studio's kernel writes run folders and reads settings before any model loads."""
    code = (
        "import sys, pytti_nb.io.run_writer, pytti_nb.io.user_files, pytti_nb.config.files; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
