"""Frames between two saved frames by optical flow (interpolate_output), for the video only.

Each in-between at time t (0 < t < 1) samples the earlier frame where its content has come
from and the later frame where its content is going (a point p of the earlier frame is at
p + t F01(p) at time t: the inverse of the warp that samples p + t F01(p), by Warp.inverse's
fixed-point iteration), and blends the two by t. Two frames are in memory at a time.
"""

import numpy as np
import torch
from torch import Tensor

from .flow import flow_warp


@torch.no_grad()
def inbetweens(flow, a: np.ndarray, b: np.ndarray, factor: int, device="cpu") -> list:
    """The factor - 1 frames between a and b (uint8 HxWx3) at t = 1/factor, 2/factor, ..."""
    x0, x1 = _to_tensor(a, device), _to_tensor(b, device)
    forward, backward = flow(x0, x1).float(), flow(x1, x0).float()
    out = []
    for k in range(1, factor):
        t = k / factor
        from0 = _moved(x0, forward, t)  # earlier content moved forward by t
        from1 = _moved(x1, backward, 1 - t)  # later content moved back by 1 - t
        out.append(_to_uint8((1 - t) * from0 + t * from1))
    return out


def _moved(image: Tensor, flow: Tensor, t: float) -> Tensor:
    """The image with each point p moved to p + t flow(p) (flow [1,2,H,W] in pixels)."""
    return flow_warp(t * flow, "bilinear", "smear").inverse().apply(image)


def _to_tensor(frame: np.ndarray, device) -> Tensor:
    """uint8 HxWx3 to [1,3,H,W] float in [0,1] on `device`."""
    return torch.from_numpy(np.array(frame)).to(device).permute(2, 0, 1)[None] / 255


def _to_uint8(image: Tensor) -> np.ndarray:
    """[1,3,H,W] in [0,1] to uint8 HxWx3 on the CPU."""
    return image[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
