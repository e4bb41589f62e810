"""Videos read as a stream: at the run's frame rate and size, one frame at a time.

ffmpeg resamples the video to frames_per_second and scales it (Lanczos) in the decoding
process, so nothing is re-encoded and no copy is written beside the user's file; the reader
keeps only the few most recent frames a Video Source run looks back at.
"""

import re
import stat
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from ..errors import MediaError, shown_path

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v", ".gif")
PROBE_TIMEOUT_S = 600  # counting frames decodes the whole video once
# One bound for every picture a run reads (images, videos, masks): 64 megapixels is a
# decompression-bomb guard far above any useful input (an 8K video frame is 33 megapixels).
MAX_MEDIA_PIXELS = 64_000_000
_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
_SPECIAL += ((stat.S_ISSOCK, "a socket"),)


@dataclass(frozen=True)
class VideoInfo:
    """What validation knows of a video: its size and how many frames it gives at a rate."""

    path: str
    width: int  # as encoded
    height: int
    fps: float  # the rate frames are read at (the run's frames_per_second)
    frames: int  # frames at that rate
    stamp: tuple = ()  # the file's (size, modification time) when probed

    def matches(self, path, fps: float) -> bool:
        """Whether this probe still describes `path` read at `fps` (the file is unchanged)."""
        file = Path(str(path)).expanduser()
        return str(file) == self.path and fps == self.fps and file_stamp(file) == self.stamp


def file_stamp(file: Path) -> tuple:
    """What tells that a file changed: its size and modification time (empty when missing)."""
    try:
        stat = file.stat()
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return ()
    return (stat.st_size, stat.st_mtime_ns)


def file_problem(path, quoted: str) -> str | None:
    """What makes `path` no media file to read (missing, a folder, a FIFO or device), as a
    phrase about `quoted`, or None. Only stat()s it: opening a FIFO would wait forever."""
    try:
        mode = Path(str(path)).expanduser().stat().st_mode
    except FileNotFoundError:
        return f"file {quoted} does not exist"
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        why = getattr(e, "strerror", None) or "not a path the system accepts"
        return f"file {quoted} cannot be looked at ({why})"
    if stat.S_ISDIR(mode):
        return f"{quoted} is a folder; give a file in it"
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
        return f"{quoted} is not a regular file ({kind}); give a file"
    return None


def pixels_problem(width: int, height: int, quoted: str) -> str | None:
    """Why a picture of width x height is too large to read (MAX_MEDIA_PIXELS), or None."""
    if width * height > MAX_MEDIA_PIXELS:
        return (
            f"{quoted} is {width}x{height}, larger than {MAX_MEDIA_PIXELS} pixels, the most "
            "any image or video may have; scale it down"
        )
    return None


def _declared_size(file: Path) -> tuple[int, int]:
    """The size the file's first video stream declares, read from its header without decoding
    a frame (a huge one would take gigabytes); (0, 0) when none is found."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(file)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    except subprocess.TimeoutExpired:
        return 0, 0
    found = re.search(r"Stream #.* Video: .*? ([0-9]+)x([0-9]+)[, ]", run.stderr)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def _filters(fps: float, size=None) -> str:
    """The ffmpeg video filter: resample to fps, scale to size=(width, height) if given."""
    chain = f"fps={fps!r}"
    if size is not None:
        chain += f",scale={size[0]}:{size[1]}:flags=lanczos"
    return chain


def probe_video(path, fps: float, where: str = "video") -> VideoInfo:
    """Check that `path` is a video with frames and count its frames at `fps`."""
    file = Path(str(path)).expanduser()
    problem = file_problem(file, shown_path(path)) or pixels_problem(
        *_declared_size(file), shown_path(path)
    )
    if problem:
        raise MediaError(f"{where}: {problem}")
    try:
        reader = imageio_ffmpeg.read_frames(str(file))
        meta = next(reader)
        reader.close()
    except (OSError, RuntimeError, StopIteration) as e:
        reason = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
        raise MediaError(
            f"{where}: {shown_path(path)} is not a readable video ({reason})"
        ) from None
    width, height = meta["size"]
    problem = pixels_problem(int(width), int(height), shown_path(path))  # undeclared in the header
    if problem:
        raise MediaError(f"{where}: {problem}")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(file)]
    cmd += ["-map", "0:v:0", "-vf", _filters(fps), "-f", "null", "-"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MediaError(
            f"{where}: counting the frames of {shown_path(path)} took too long"
        ) from None
    counts = re.findall(r"frame=\s*(\d+)", run.stderr)
    frames = int(counts[-1]) if counts and run.returncode == 0 else 0
    if frames == 0:
        raise MediaError(f"{where}: {shown_path(path)} has no video frames that ffmpeg can decode")
    return VideoInfo(str(file), int(width), int(height), float(fps), frames, file_stamp(file))


class VideoReader:
    """Frames of one video at a frame rate and size, read in order, a few kept for look-back.

    frame(i) reads forward to frame i; asking for a frame older than those kept restarts the
    stream from the beginning (only a resumed run does that, once).
    """

    def __init__(self, path, fps: float, size, *, keep: int = 4):
        self.path, self.fps, self.size = str(Path(str(path)).expanduser()), fps, tuple(size)
        self.keep = max(2, keep)
        self._frames = OrderedDict()  # index -> HxWx3 uint8, the most recent `keep`
        self._stream = None
        self._next = 0  # index of the frame the stream yields next

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0-based) as an HxWx3 uint8 array at the reader's size."""
        if index in self._frames:
            return self._frames[index]
        if index < self._next:
            self.close()  # behind the stream: start again from the beginning
        while self._next <= index:
            data = self._read()
            self._frames[self._next] = data
            self._next += 1
            while len(self._frames) > self.keep:
                self._frames.popitem(last=False)
        return self._frames[index]

    def _read(self) -> np.ndarray:
        """The next frame of the stream, opening it if needed."""
        if self._stream is None:
            self._stream = imageio_ffmpeg.read_frames(
                self.path, output_params=["-map", "0:v:0", "-vf", _filters(self.fps, self.size)]
            )
            next(self._stream)  # the metadata
            self._next = 0
        try:
            raw = next(self._stream)
        except StopIteration:
            raise MediaError(
                f"video {shown_path(self.path)} ended at frame {self._next}; it has fewer frames than "
                "the run needs"
            ) from None
        width, height = self.size
        return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)

    def close(self) -> None:
        """Stop the decoding process and forget the kept frames."""
        if self._stream is not None:
            self._stream.close()
        self._stream, self._next = None, 0
        self._frames.clear()
