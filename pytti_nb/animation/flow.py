"""Optical flow between frames: the warp it implies and where it can be trusted.

The consistency mask is Ruder, Dosovitskiy and Brox's check (Artistic style transfer for
videos, 2016; PyTTI re-implemented it): a pixel of the new frame is reliable when following
the backward flow to the old frame and the forward flow back again lands where it started,
it is not on a motion boundary, and the old position lies inside the picture.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from .warp import Warp, identity_grid

SCENE_CUT = 0.03  # below this share of reliable pixels the frames are a cut (PyTTI)


def flow_warp(backward: Tensor, sampling: str, infill: str) -> Warp:
    """The warp that moves the old frame onto the new one, from the backward flow [1,2,H,W]
    (new frame -> old frame, in pixels)."""
    height, width = backward.shape[-2:]
    scale = backward.new_tensor([2 / width, 2 / height]).view(1, 2, 1, 1)
    return Warp(
        sampling=sampling, infill=infill, displacement=(backward * scale).permute(0, 2, 3, 1)
    )


def consistency_mask(forward: Tensor, backward: Tensor) -> Tensor:
    """[1,1,H,W] in [0,1]: 1 where the new frame's pixel is reliably found in the old frame.

    forward: old -> new flow, backward: new -> old flow, both [1,2,H,W] in pixels.
    """
    height, width = backward.shape[-2:]
    grid = identity_grid(height, width, backward.device)  # new-frame pixel centres
    scale = backward.new_tensor([2 / width, 2 / height])
    old = grid + backward[0].permute(1, 2, 0) * scale  # where each new pixel was
    forward_at_old = F.grid_sample(
        forward, old, mode="bilinear", padding_mode="border", align_corners=False
    )
    round_trip = backward + forward_at_old  # ~0 when following both flows returns home
    missed = (
        round_trip.square().sum(1)
        >= 0.01 * (backward.square().sum(1) + forward_at_old.square().sum(1)) + 0.5
    )
    dx = F.pad(backward[..., :, 2:] - backward[..., :, :-2], (1, 1)) / 2
    dy = F.pad(backward[..., 2:, :] - backward[..., :-2, :], (0, 0, 1, 1)) / 2
    motion_edge = (dx.square() + dy.square()).sum(1)
    boundary = motion_edge >= 0.01 * backward.square().sum(1) + 0.002
    outside = (old.abs() > 1).any(-1)
    reliable = torch.ones_like(motion_edge)
    reliable = torch.where(boundary, torch.zeros_like(reliable), reliable)
    reliable = torch.where(missed, -torch.ones_like(reliable), reliable)  # pulls neighbours down
    reliable = torch.where(outside, torch.zeros_like(reliable), reliable)
    blur = reliable.new_tensor([1.0, 2.0, 1.0])
    kernel = (blur[:, None] * blur[None, :] / 16)[None, None]  # 3x3 Gaussian, as PyTTI's
    smoothed = F.conv2d(F.pad(reliable[:, None], (1, 1, 1, 1), mode="replicate"), kernel)
    return smoothed.clamp(0, 1)
