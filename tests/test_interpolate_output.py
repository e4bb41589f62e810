"""interpolate_output: the video plays N times as many frames, the new ones made by optical flow
between the saved frames, which stay as they are."""

from functools import partial

import imageio_ffmpeg
import numpy as np
import pytest
from tiny import tiny_settings

from pytti_nb.animation.interpolate import inbetweens
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError
from pytti_nb.io.run_writer import RunWriter
from pytti_nb.models.flow import DisFlow

SIZE, SIDE, STEP = 48, 12, 4  # a 12 px square moving 4 px right per frame
FRAMES = 4


def square_frame(left: int) -> np.ndarray:
    """A textured bright square at x = left on a dim textured background (DIS needs texture)."""
    rng = np.random.default_rng(left)
    image = rng.integers(0, 40, (SIZE, SIZE, 3)).astype(np.uint8)
    square = np.random.default_rng(7).integers(170, 256, (SIDE, SIDE, 3)).astype(np.uint8)
    top = (SIZE - SIDE) // 2
    image[top : top + SIDE, left : left + SIDE] = square
    return image


def bright(frame: np.ndarray) -> np.ndarray:
    """Where the square is: brighter than a cross-fade's half-bright ghost could be."""
    return (frame.mean(2) > 150).astype(float)


def square_x(frame: np.ndarray) -> float:
    """The x centroid of the bright square."""
    return float((bright(frame).sum(0) * np.arange(frame.shape[1])).sum() / bright(frame).sum())


def read_video(path):
    """Every frame of an MP4 as uint8 HxWx3 arrays, and its frame rate."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
    return frames, meta["fps"]


def test_each_new_frame_puts_the_square_at_the_midpoint(tmp_path):
    lefts = [8 + STEP * k for k in range(FRAMES)]
    writer = RunWriter(
        tmp_path / "run",
        fps=4,
        overwrite=False,
        interpolate=2,
        between=lambda: partial(inbetweens, DisFlow()),
    )
    saved = [writer.write_save(k + 1, square_frame(x), {}) for k, x in enumerate(lefts)]
    before = [p.read_bytes() for p in saved]
    video = writer.finish()
    frames, fps = read_video(video)
    assert fps == pytest.approx(8)
    assert len(frames) == 2 * FRAMES  # the last saved frame is held, keeping every frame's time
    for k in range(FRAMES - 1):
        assert square_x(frames[2 * k]) == pytest.approx(square_x(square_frame(lefts[k])), abs=0.5)
        midpoint = (square_x(square_frame(lefts[k])) + square_x(square_frame(lefts[k + 1]))) / 2
        assert square_x(frames[2 * k + 1]) == pytest.approx(midpoint, abs=1)
        # one whole square, not a cross-fade of two (their overlap is centred there too)
        assert bright(frames[2 * k + 1]).sum() == pytest.approx(SIDE * SIDE, rel=0.15)
    assert [p.read_bytes() for p in saved] == before  # the PNG frames are untouched


def test_without_interpolation_the_video_has_the_saved_frames(tmp_path):
    writer = RunWriter(tmp_path / "run", fps=4, overwrite=False)
    for k in range(3):
        writer.write_save(k + 1, square_frame(8 + STEP * k), {})
    frames, fps = read_video(writer.finish())
    assert (len(frames), fps) == (3, pytest.approx(4))


def test_interpolation_needs_an_animation(tmp_path):
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(tiny_settings(interpolate_output=2, output_root=str(tmp_path))))
    assert "interpolate_output" in str(e.value) and "animation_mode" in str(e.value)
    plan_run(from_dict(tiny_settings(interpolate_output=2, animation_mode="2D")))
