"""Reading user images (init images, image prompts, masks) into tensors."""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import PyttiError

MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb guard well above any sane input


def check_image_file(path, where: str) -> tuple[int, int]:
    """Prove a path is a readable image and return its (width, height), without decoding it."""
    p = Path(str(path)).expanduser()
    if str(path).startswith(("http://", "https://")):
        raise PyttiError(
            f"{where}: {str(path)!r} is a URL; download it and give the file's "
            "path (URLs are not fetched, so a run never depends on a website)"
        )
    if not p.is_file():
        raise PyttiError(f"{where}: file {str(path)!r} does not exist")
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise PyttiError(
                    f"{where}: {str(path)!r} is {im.width}x{im.height}, larger "
                    f"than {MAX_IMAGE_PIXELS} pixels"
                )
            im.verify()
            return im.width, im.height
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise PyttiError(f"{where}: {str(path)!r} is not a readable image ({e})") from None


def load_rgb(path, size=None) -> np.ndarray:
    """An image file as float32 HxWx3 in [0,1], optionally resized (LANCZOS) to (width, height)."""
    with Image.open(Path(str(path)).expanduser()) as im:
        im = im.convert("RGB")
        if size is not None and im.size != tuple(size):
            im = im.resize(tuple(size), Image.LANCZOS)
        return np.asarray(im, dtype=np.float32) / 255.0


def load_gray(path, size=None) -> np.ndarray:
    """An image file as float32 HxW in [0,1] (luminance), optionally resized to (width, height)."""
    with Image.open(Path(str(path)).expanduser()) as im:
        im = im.convert("L")
        if size is not None and im.size != tuple(size):
            im = im.resize(tuple(size), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / 255.0
