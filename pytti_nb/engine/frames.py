"""Per-frame media (a Video Source's frames, video masks' frames), read one frame ahead.

The run layer makes a FrameReader for a run whose frames read videos; the engine takes each
frame's decoded media from it at the frame's start. Decoding happens on the reader's own
thread while the previous frame renders, so the loop never waits on a file, and only this
thread touches the decoders.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType

from ..animation.video_source import source_frames
from ..media.video import VideoReader


@dataclass(frozen=True)
class FrameMedia:
    """One animation frame's media at the output size, as float32 in [0,1]."""

    frame: int
    source: MappingProxyType  # source frame index -> HxWx3 (Video Source)
    masks: MappingProxyType  # video mask path -> HxW grey


class FrameReader:
    """Reads each animation frame's media, the next frame's while the current one renders."""

    def __init__(self, run_plan):
        self.run_plan = run_plan
        self._readers = {}  # path -> VideoReader, opened on the reading thread
        self._pool = None
        self._ahead = None  # (frame, plan, future) of the frame read ahead
        self._last = None  # (plan, FrameMedia) handed out last

    @classmethod
    def of(cls, run_plan) -> "FrameReader | None":
        """The reader of a plan's per-frame media; None when its frames read no video."""
        has_media = (
            run_plan.video is not None and run_plan.settings.animation_mode == "Video Source"
        )
        return cls(run_plan) if has_media or run_plan.mask_videos else None

    def at(self, frame: int) -> FrameMedia:
        """Frame `frame`'s media (waiting only when it was not read ahead); then reads ahead."""
        if (
            self._last is not None
            and self._last[0] is self.run_plan
            and self._last[1].frame == frame
        ):
            return self._last[1]
        ahead = self._ahead
        if ahead is not None and ahead[0] == frame and ahead[1] is self.run_plan:
            media = ahead[2].result()
        else:
            media = self._submit(frame).result()
        self._last, self._ahead = (self.run_plan, media), None
        if frame + 1 < self.run_plan.clock.frames:
            self._ahead = (frame + 1, self.run_plan, self._submit(frame + 1))
        return media

    def steer(self, run_plan) -> None:
        """Follow a live edit (a prompt may bring another video mask) from the next frame on."""
        self.run_plan = run_plan

    def close(self) -> None:
        """Stop the reading thread and the decoders; a later at() opens them again."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for reader in self._readers.values():
            reader.close()
        self._readers, self._pool, self._ahead, self._last = {}, None, None, None

    def _submit(self, frame: int):
        """Read a frame's media on the reading thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pytti-frames")
        return self._pool.submit(_read, self._readers, self.run_plan, frame)


def _read(readers: dict, run_plan, frame: int) -> FrameMedia:
    """Decode one frame's media (on the reading thread)."""
    s, size = run_plan.settings, run_plan.output_size
    source = {}
    if run_plan.video is not None and s.animation_mode == "Video Source":
        samples = s.flow_long_term_samples
        if run_plan.video.path not in readers:
            # every source frame the long-term samples look back at stays in the reader
            keep = 2**samples * s.frame_stride + 2
            readers[run_plan.video.path] = VideoReader(
                run_plan.video.path, s.frames_per_second, size, keep=keep
            )
        reader = readers[run_plan.video.path]
        for index in source_frames(frame, s.frame_stride, samples):
            source[index] = reader.frame(index).astype("float32") / 255
    masks = {}
    for path, info in run_plan.mask_videos.items():
        key = ("mask", path)
        if key not in readers:
            readers[key] = VideoReader(path, info.fps, size)
        rgb = readers[key].frame(run_plan.mask_frame(frame)).astype("float32") / 255
        masks[path] = rgb.mean(axis=2)
    return FrameMedia(frame, MappingProxyType(source), MappingProxyType(masks))
