"""The image files a run reads (init image, image prompts, masks), loaded before the loop.

The engine never opens a file while it steps: the renderer loads a plan's images here when
it is built, and live steering loads the images a steered plan adds before handing it over.
"""

from dataclasses import dataclass
from types import MappingProxyType

from ..images import load_gray, load_rgb


@dataclass(frozen=True)
class Assets:
    """Images at the render size: colour ones as HxWx3 and masks as HxW float32 in [0,1]."""

    size: tuple  # (width, height) in output pixels
    rgb: MappingProxyType  # path -> array
    gray: MappingProxyType  # path -> array


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
    return Assets(size, MappingProxyType(rgb), MappingProxyType(gray))
