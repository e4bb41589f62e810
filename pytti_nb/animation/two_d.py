"""2D camera motion: PyTTI's affine warp (translate, rotate, zoom) once per frame."""

import math

import torch


def affine(motion: dict, width: int, height: int) -> torch.Tensor:
    """The [2,3] map from new-frame to previous-frame positions in normalised coordinates.

    PyTTI's matrix [[zx cos, -zy sin, tx], [zx sin, zy cos, ty]] with zx = (W - zoom_x) / W,
    tx = -2 translate_x / W and ty = 2 translate_y / H, in pixels of the image's own grid:
    content moves translate_x pixels right and translate_y up, turns rotate_2d degrees
    counterclockwise and is magnified by W / (W - zoom_x). Unlike PyTTI's, the rotation is a
    true rotation on non-square images (PyTTI rotated in normalised units, which shears them).
    """
    zx = (width - motion["zoom_x_2d"]) / width
    zy = (height - motion["zoom_y_2d"]) / height
    theta = math.radians(motion["rotate_2d"])
    cos, sin = math.cos(theta), math.sin(theta)
    aspect = height / width  # converts a rotation in pixels into normalised units
    return torch.tensor(
        [
            [zx * cos, -zy * sin * aspect, -2 * motion["translate_x"] / width],
            [zx * sin / aspect, zy * cos, 2 * motion["translate_y"] / height],
        ],
        dtype=torch.float32,
    )
