"""Video masks are read at frames_per_second, as the Video Source is, so a mask drawn for the
video stays in step with it whatever frames_per_second is. PyTTI read a mask at its own rate
(one mask frame per animation frame), which drifts when that differs from frames_per_second."""

import numpy as np
import pytest
from media import SQUARE, TOP, square_mask_video, square_video

from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.frames import FrameReader

FPS = 12.0  # frames_per_second: the source video is drawn at 24, its masks at 24 and 48
START = 10  # the square's left column in the videos' first frame
PER_SECOND = 48  # pixels the square moves per second in every drawn video


def left_column(grey) -> int:
    """The leftmost column where the square's rows are mostly bright."""
    rows = grey[TOP + 4 : TOP + SQUARE - 4]
    return int(np.flatnonzero((rows > 0.55).mean(axis=0) > 0.5).min())


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """The source (24 fps) and the masks drawn for it at 24 and 48 fps: the same square at the
    same time in all three."""
    folder = tmp_path_factory.mktemp("rates")
    source = square_video(folder / "source.mp4", frames=20, step=PER_SECOND // 24, fps=24)
    masks = {
        fps: square_mask_video(folder / f"mask{fps}.mp4", frames=fps * 20 // 24,
                               step=PER_SECOND // fps, fps=fps)
        for fps in (24, 48)
    }  # fmt: skip
    return source, masks


def plan(videos, tmp_path, **changes):
    source, masks = videos
    return plan_run(
        from_dict(
            {
                "scenes": " | ".join(f"a red circle:1_[{m}]" for m in masks.values()),
                "perceptors": ["demo"],
                "width": 96,
                "height": 72,
                "pixel_size": 1,
                "steps_per_frame": 1,
                "frames_per_second": FPS,
                "device": "cpu",
                "animation_mode": "Video Source",
                "video_path": str(source),
                "flow_model": "dis",
                "output_root": str(tmp_path),
                **changes,
            }  # fmt: skip
        )
    )


def pytti_mask_frame(mask_fps: int, frame: int, stride: int = 1) -> int:
    """The frame of a mask video PyTTI showed at animation frame `frame`, in the video's own
    frames: Rotoscoper read it unconverted (rotoscoper.py 86, get_frames without params) at
    update_rotoscopers((frame + 1) * frame_stride) (update_func.py 236-239, rotoscoper.py 100)."""
    return (frame + 1) * stride


def test_each_mask_frame_has_its_square_where_the_source_frames_square_is(videos, tmp_path):
    p = plan(videos, tmp_path)
    source, masks = videos
    assert p.clock.frames == 9  # 10 source frames at 12 fps: frame k shows source frame k + 1
    reader = FrameReader.of(p)
    try:
        for k in range(p.clock.frames):
            media = reader.at(k)
            shown = media.source[k + 1].mean(axis=2)  # the source frame animation frame k shows
            square = left_column(shown)
            assert square == START + PER_SECOND * (k + 1) / FPS  # at (k + 1) / 12 seconds
            for fps, path in masks.items():
                got = left_column(media.masks[str(path)])
                # the mask drawn at the video's rate: its very frame; at another rate, ffmpeg's
                # fps filter (rounding to the nearest) is within one of the mask's own frames
                assert abs(got - square) <= (0 if fps == 24 else PER_SECOND / fps), (k, fps)
                # PyTTI's frame of this mask was (k + 1) / fps seconds in, not (k + 1) / 12:
                # its square lags the source's, more every frame
                pyttis = START + PER_SECOND * pytti_mask_frame(fps, k) / fps
                lag = PER_SECOND * (k + 1) * (1 / FPS - 1 / fps)
                assert square - pyttis == pytest.approx(lag) and lag >= PER_SECOND / 24
    finally:
        reader.close()


def test_masks_follow_t_in_other_modes_too(videos, tmp_path):
    _, masks = videos
    p = plan(videos, tmp_path, animation_mode="2D", steps_per_scene=4)
    reader = FrameReader.of(p)
    try:
        for k in range(4):  # frame k's mask: (k + 1) / frames_per_second seconds into the video
            media = reader.at(k)
            for fps, path in masks.items():
                got = left_column(media.masks[str(path)])
                expected = START + PER_SECOND * (k + 1) / FPS
                assert abs(got - expected) <= (0 if fps == 24 else PER_SECOND / fps), (k, fps)
    finally:
        reader.close()
