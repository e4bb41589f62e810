"""Warps: where each pixel of the new frame samples the previous one, at any resolution.

Grids are in grid_sample's normalised coordinates with align_corners=False, where -1 and 1 are
the outer edges of the image, so one grid means the same motion on a parameter grid, its
decoded image and the optimiser's moments whatever their resolution. A translation by d
pixels is exactly 2d/W in these units, so whole-pixel motion lands on pixel centres.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

SAMPLING_MODES = ("nearest", "bilinear", "bicubic")
INFILL_MODES = ("mirror", "wrap", "black", "smear")
_PADDING = {"mirror": "reflection", "black": "zeros", "smear": "border"}
INVERSE_ITERATIONS = 12  # of a displacement field's inverse: error shrinks geometrically
WRAP_PAD = 2  # pixels of circular padding: enough for bicubic's 4x4 taps at the seam


@dataclass(frozen=True)
class Warp:
    """A motion between two frames: an affine map, or a dense displacement, in normalised coords."""

    sampling: str = "bilinear"
    infill: str = "wrap"
    affine: Tensor | None = None  # [2,3]: output position -> input position
    displacement: Tensor | None = None  # [1,h,w,2]: input minus output position, per pixel

    def grid_at(self, height: int, width: int, device) -> Tensor:
        """The sampling grid [1,height,width,2] for an image of this size."""
        if self.affine is not None:
            theta = self.affine.to(device=device, dtype=torch.float32)[None]
            return F.affine_grid(theta, [1, 1, height, width], align_corners=False)
        shift = self.displacement.to(device=device, dtype=torch.float32)
        if shift.shape[1:3] != (height, width):
            # a displacement field is smooth: bilinear resampling keeps it at another size
            shift = F.interpolate(
                shift.permute(0, 3, 1, 2), size=(height, width), mode="bilinear"
            ).permute(0, 2, 3, 1)
        return identity_grid(height, width, device) + shift

    def apply(self, x: Tensor, sampling: str | None = None) -> Tensor:
        """Warp a [b,c,h,w] tensor (an image, parameters or their Adam moments)."""
        grid = self.grid_at(x.shape[-2], x.shape[-1], x.device).expand(x.shape[0], -1, -1, -1)
        return sample(x, grid, self.infill, sampling or self.sampling)

    def inverse(self) -> "Warp":
        """The warp back: it moves the new frame onto the old one (cadence's backward warp).

        An affine map inverts exactly; a displacement field by fixed-point iteration, which
        converges wherever the motion changes by less than a pixel per pixel (camera moves,
        optical flow between neighbouring frames)."""
        if self.affine is not None:
            full = torch.cat([self.affine.double(), self.affine.new_tensor([[0, 0, 1]]).double()])
            back = torch.linalg.inv(full)[:2].to(self.affine.dtype)
            return Warp(sampling=self.sampling, infill=self.infill, affine=back)
        shift = self.displacement.permute(0, 3, 1, 2)  # [1,2,h,w]
        height, width = shift.shape[-2:]
        grid = identity_grid(height, width, shift.device)
        edge = "wrap" if self.infill == "wrap" else "smear"  # the field goes on past the edge
        back = -self.displacement
        for _ in range(INVERSE_ITERATIONS):  # back(x) = -shift(x + back(x))
            back = -sample(shift, grid + back, edge, "bilinear").permute(0, 2, 3, 1)
        return Warp(sampling=self.sampling, infill=self.infill, displacement=back)


def infill_of(settings) -> str:
    """The infill a run's warps use: wrap for a seamless image, whatever infill_mode says."""
    return "wrap" if settings.seamless else settings.infill_mode


def sample(x: Tensor, grid: Tensor, infill: str, sampling: str) -> Tensor:
    """grid_sample with PyTTI's infill modes; wrap samples a circularly padded copy."""
    if infill == "wrap":
        height, width = x.shape[-2:]
        folded = (grid + 1).remainder(2) - 1  # every position folded back into the image
        if min(height, width) < 2 * WRAP_PAD:  # too small to pad circularly (a Pyramid's
            # coarsest levels): sampled in the middle of 3x3 tiles of itself
            tiles = x.repeat(1, 1, 3, 3)
            return F.grid_sample(
                tiles, folded / 3, mode=sampling, padding_mode="border", align_corners=False
            )
        padded = F.pad(x, (WRAP_PAD,) * 4, mode="circular")
        scale = grid.new_tensor([width / (width + 2 * WRAP_PAD), height / (height + 2 * WRAP_PAD)])
        return F.grid_sample(
            padded, folded * scale, mode=sampling, padding_mode="border", align_corners=False
        )
    return F.grid_sample(x, grid, mode=sampling, padding_mode=_PADDING[infill], align_corners=False)


def identity_grid(height: int, width: int, device) -> Tensor:
    """The grid [1,h,w,2] that samples every pixel at its own centre."""
    eye = torch.eye(2, 3, device=device)[None]
    return F.affine_grid(eye, [1, 1, height, width], align_corners=False)
