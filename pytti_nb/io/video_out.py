"""A run's saved images encoded as an H.264 MP4 (with its sound, when it has one) and an
animated GIF, each written atomically; the images are streamed, one in memory at a time (two
when interpolate_output makes frames between them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from ..errors import MediaError, OutputError, shown_path
from .atomic import atomic_path
from .run_folder import write_error

VIDEO_CRF = 17  # x264 constant quality; 17 is visually lossless at a fraction of crf 1's size


def frame_image(path: Path, size: tuple[int, int], even: tuple[int, int]) -> bytes:
    """Raw RGB bytes of one frame file, cropped to `even` (yuv420p needs even width and height)."""
    with Image.open(path) as im:
        if im.size != size:
            raise OutputError(
                f"cannot assemble the video: frame '{path}' is {im.size[0]}x{im.size[1]} but the "
                f"first frame is {size[0]}x{size[1]}; all frames of a video must have one size"
            )
        return im.convert("RGB").crop((0, 0, *even)).tobytes()


def assemble_video(
    frame_paths: list[Path], video_path: Path, *, fps: float, interpolate: int = 1, between=None
) -> None:
    """Encode frames (in the given order) to an H.264 yuv420p MP4, written atomically; with
    `interpolate` N > 1, the N - 1 frames `between(a, b, N)` makes (uint8 HxWx3 arrays:
    animation.interpolate) between each two, at `fps`."""
    try:
        with Image.open(frame_paths[0]) as im:
            size = im.size
    except OSError as e:
        raise OutputError(
            f"cannot assemble the video: frame {shown_path(frame_paths[0])} is not a readable "
            f"image ({e})"
        ) from e
    even = (size[0] - size[0] % 2, size[1] - size[1] % 2)  # crop 1 px off odd sides
    if min(even) == 0:
        raise OutputError(f"cannot assemble the video: frames are {size[0]}x{size[1]}; need >= 2x2")
    try:
        with atomic_path(video_path) as tmp:
            writer = imageio_ffmpeg.write_frames(
                str(tmp),
                even,
                fps=fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                quality=None,
                macro_block_size=2,
                ffmpeg_log_level="error",
                # -f: the temp name lacks .mp4; faststart lets browsers play it while loading
                output_params=["-f", "mp4", "-crf", str(VIDEO_CRF), "-movflags", "+faststart"],
            )
            writer.send(None)
            try:
                for raw in _stream(frame_paths, size, even, interpolate, between):
                    writer.send(raw)
            finally:
                writer.close()  # waits for ffmpeg to finish (or stops it after an error)
    except (OSError, RuntimeError) as e:
        raise write_error("video", video_path, e) from e


def _stream(frame_paths, size, even, interpolate, between):
    """The raw frames of the video: each saved frame, read when it is needed; with interpolate
    N > 1, N - 1 in-betweens before each but the first, and the last frame held N times, so
    every saved frame keeps its time (save k at k / frames_per_second)."""
    previous = None
    for path in frame_paths:
        raw = frame_image(path, size, even)
        if previous is not None and interpolate > 1:
            a, b = (
                np.frombuffer(x, np.uint8).reshape(even[1], even[0], 3) for x in (previous, raw)
            )
            for made in between(a, b, interpolate):
                yield made.tobytes()
        yield raw
        previous = raw
    for _ in range(interpolate - 1):
        yield previous


DISK_WORDS = ("No space left", "Permission denied", "Read-only file system", "Disk quota")


def mux_audio(video_path: Path, audio_path, offset: float, seconds: float) -> None:
    """Put the sound of audio_path, from `offset` seconds, into the video as AAC, cut to the
    video's `seconds`; the video stream is copied, not encoded again. Written atomically."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    cmd += ["-i", str(video_path)]
    cmd += ["-ss", f"{offset:.6f}", "-t", f"{seconds:.6f}", "-i", str(audio_path)]
    cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]
    cmd += ["-movflags", "+faststart", "-f", "mp4"]
    try:
        with atomic_path(video_path) as tmp:
            run = subprocess.run(
                [*cmd, "-y", str(tmp)], capture_output=True, text=True, check=False
            )
            if run.returncode != 0:
                said = run.stderr.strip()[-300:]
                # ffmpeg fails for the sound's sake (unreadable, no audio stream) far more
                # often than for the disk's; only the disk's words make it an output error
                kind = OutputError if any(w in said for w in DISK_WORDS) else MediaError
                raise kind(
                    f"input_audio: cannot put the sound of {shown_path(audio_path)} into "
                    f"{shown_path(video_path)} (the frames and the silent video are kept): {said}"
                )
    except OSError as e:
        raise write_error("video", video_path, e) from e


def assemble_gif(frame_paths: list[Path], gif_path: Path, *, fps: float) -> None:
    """Write frames as a looping animated GIF (each frame with its own 256-colour palette)."""
    duration_ms = max(20, round(1000 / fps))  # browsers slow down GIF frames shorter than 20 ms

    def frames():
        for path in frame_paths[1:]:  # one decoded frame at a time; Pillow keeps the quantised
            with Image.open(path) as im:
                yield im.convert("RGB").quantize(256)

    try:
        with atomic_path(gif_path) as tmp, Image.open(frame_paths[0]) as first:
            first.convert("RGB").quantize(256).save(
                tmp, format="GIF", save_all=True, append_images=frames(), loop=0,
                duration=duration_ms, optimize=False,
            )  # fmt: skip
    except OSError as e:
        raise write_error("GIF", gif_path, e) from e
