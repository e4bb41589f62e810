"""Reading user images (init images, image prompts, masks) into tensors."""

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import PyttiError, clipped, shown
from ..media.video import MAX_MEDIA_PIXELS, file_problem, pixels_problem
from .bounded import path_problem

MAX_IMAGE_PIXELS = MAX_MEDIA_PIXELS  # one bound for images and videos alike
MAX_IMAGE_BYTES = 512 * 2**20  # a file this large is no image a run needs


def check_image_file(path, where: str) -> tuple[int, int]:
    """Prove a path is a readable image by decoding it fully (bounded in size), so a damaged
    file fails here, before any model loads; its (width, height)."""
    text = str(path)
    if text.startswith(("http://", "https://")):
        raise PyttiError(
            f"{where}: {shown(text)} is a URL; download it and give the file's "
            "path (URLs are not fetched, so a run never depends on a website)"
        )
    problem = "contains a NUL character" if "\0" in text else path_problem(text)
    if problem:
        raise PyttiError(f"{where}: {shown(text)} {problem}")
    p = Path(text).expanduser()
    problem = file_problem(p, shown(text))
    if problem:
        raise PyttiError(f"{where}: {problem}")
    try:
        if p.stat().st_size > MAX_IMAGE_BYTES:
            raise PyttiError(
                f"{where}: {shown(text)} is larger than {MAX_IMAGE_BYTES // 2**20} MiB"
            )
        with Image.open(p) as im:
            problem = pixels_problem(im.width, im.height, shown(text))
            if problem:
                raise PyttiError(f"{where}: {problem}")
            im.load()  # decodes every pixel: a corrupt stream with valid checksums fails here
            return im.width, im.height
    except PyttiError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own guard, at twice its limit
        raise PyttiError(
            f"{where}: {shown(text)} is not a readable image: larger than {MAX_IMAGE_PIXELS} "
            f"pixels, the most any image or video may have ({clipped(str(e), 120)})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise PyttiError(
            f"{where}: {shown(text)} is not a readable image ({clipped(str(e), 160)})"
        ) from None


def load_rgb(path, size=None) -> np.ndarray:
    """An image file as float32 HxWx3 in [0,1], optionally resized (LANCZOS) to (width, height)."""
    return _load(path, "RGB", size, Image.LANCZOS)


def load_gray(path, size=None) -> np.ndarray:
    """An image file as float32 HxW in [0,1] (luminance), optionally resized to (width, height)."""
    return _load(path, "L", size, Image.BILINEAR)


def _load(path, mode: str, size, resample) -> np.ndarray:
    """An image file in a PIL mode as float32 in [0,1], resized to `size` when it differs."""
    with Image.open(Path(str(path)).expanduser()) as im:
        im = im.convert(mode)
        if size is not None and im.size != tuple(size):
            im = im.resize(tuple(size), resample)
        return np.asarray(im, dtype=np.float32) / 255.0
