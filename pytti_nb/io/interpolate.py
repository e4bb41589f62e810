"""Frames between two saved frames by optical flow (interpolate_output), for the video only.

Each in-between at time t (0 < t < 1) samples the earlier frame where its content has come
from and the later frame where its content is going, found by fixed-point iteration on the two
frames' flows (a point p of the earlier frame is at p + t F01(p) at time t), and blends the two
by t. Two frames are in memory at a time.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

FIXED_POINT_ITERATIONS = 8  # converges to well under a pixel for flows that do not fold


def to_tensor(frame: np.ndarray, device) -> Tensor:
    """uint8 HxWx3 to [1,3,H,W] float in [0,1] on `device`."""
    return torch.from_numpy(np.array(frame)).to(device).permute(2, 0, 1)[None] / 255


def to_uint8(image: Tensor) -> np.ndarray:
    """[1,3,H,W] in [0,1] to uint8 HxWx3 on the CPU."""
    return image[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def inbetweens(flow, a: np.ndarray, b: np.ndarray, factor: int, device="cpu") -> list:
    """The factor - 1 frames between a and b (uint8 HxWx3) at t = 1/factor, 2/factor, ..."""
    x0, x1 = to_tensor(a, device), to_tensor(b, device)
    forward, backward = flow(x0, x1).float(), flow(x1, x0).float()
    out = []
    for k in range(1, factor):
        t = k / factor
        from0 = _sample(x0, _source(forward, t))  # earlier content moved forward by t
        from1 = _sample(x1, _source(backward, 1 - t))  # later content moved back by 1 - t
        out.append(to_uint8((1 - t) * from0 + t * from1))
    return out


def _source(flow: Tensor, t: float) -> Tensor:
    """Where each pixel x of the frame at time t was in the flow's first frame: p with
    p + t flow(p) = x, by fixed-point iteration. Pixels [1,2,H,W]."""
    grid = _pixel_grid(flow)
    p = grid.clone()
    for _ in range(FIXED_POINT_ITERATIONS):
        p = grid - t * _sample(flow, p)
    return p


def _pixel_grid(like: Tensor) -> Tensor:
    """Pixel positions (x, y) [1,2,H,W]."""
    h, w = like.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=like.dtype, device=like.device),
        torch.arange(w, dtype=like.dtype, device=like.device),
        indexing="ij",
    )
    return torch.stack((xs, ys))[None]


def _sample(image: Tensor, where: Tensor) -> Tensor:
    """image [1,c,H,W] bilinearly sampled at pixel positions [1,2,H,W], edges extended."""
    h, w = image.shape[-2:]
    norm = torch.stack(
        (where[:, 0] * 2 / max(w - 1, 1) - 1, where[:, 1] * 2 / max(h - 1, 1) - 1), -1
    )
    return F.grid_sample(image, norm, mode="bilinear", padding_mode="border", align_corners=True)
