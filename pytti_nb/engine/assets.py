"""The image files a run reads (init image, image prompts, masks), loaded before the loop.

The engine never opens a file while it steps: a session loads its plan's images here when it
is built, and the caller of live steering loads the images a steered plan adds before handing
it over. Video masks start from their first frame (engine.frames reads the next ones ahead of
the loop), and a Video Source run without an init image starts from its video's first frame.
"""

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..io.images import load_gray, load_rgb
from ..media.video import VideoReader


@dataclass(frozen=True)
class Assets:
    """Images at the render size: colour ones as HxWx3 and masks as HxW float32 in [0,1]."""

    size: tuple  # (width, height) in output pixels
    rgb: MappingProxyType  # path -> array
    gray: MappingProxyType  # path -> array (a video mask's first frame under its path)
    init: np.ndarray | None = None  # the image the run starts from, if not noise


def load_assets(run_plan, size, reuse: Assets | None = None) -> Assets:
    """Read every image the plan names at `size`; images already in `reuse` are not re-read."""
    size = tuple(size)
    old = reuse if reuse is not None and reuse.size == size else None
    rgb, gray = {}, {}
    for path, mode in run_plan.image_files():
        loaded, load = (rgb, load_rgb) if mode == "rgb" else (gray, load_gray)
        known = None if old is None else (old.rgb if mode == "rgb" else old.gray).get(path)
        if path not in loaded:
            loaded[path] = known if known is not None else load(path, size)
    for path, info in run_plan.mask_videos.items():
        known = None if old is None else old.gray.get(path)
        gray[path] = known if known is not None else _first_frame(path, info.fps, size).mean(2)
    s = run_plan.settings
    init = rgb.get(s.init_image) if s.init_image else None
    if init is None and run_plan.video is not None:
        init = (
            old.init
            if old is not None and old.init is not None
            else _first_frame(run_plan.video.path, run_plan.video.fps, size)
        )
    return Assets(size, MappingProxyType(rgb), MappingProxyType(gray), init)


def _first_frame(path, fps, size) -> np.ndarray:
    """A video's first frame as HxWx3 float32 in [0,1] at `size`."""
    reader = VideoReader(path, fps, size)
    try:
        return reader.frame(0).astype(np.float32) / 255
    finally:
        reader.close()
