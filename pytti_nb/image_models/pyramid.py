"""Pyramid: the image as a sum of the same image at many resolutions (Direct Ascent Synthesis).

Fort and Whitaker (arXiv 2502.07753) parameterise the image as squash(sum over resolutions r of
upsample(P_r)) and get coherent pictures from CLIP alone: a step of the coarse levels moves
whole regions, so the optimiser cannot reach a low loss with high-frequency noise only, as it
does with free pixels. The levels here are spaced in powers of two (full size, half, quarter,
... down to 1x1), one of the paper's two spacings: it covers every octave of scale with
log2(side) + 1 tensors, where the linear spacing needs one tensor per pixel of side (hundreds
of upsamplings a step, over the benchmark's 10% share of the perceptor at 512 px), and Adam
normalises each level's steps, so the many fine levels of a linear spacing would mostly add
high frequencies. Upsampling is bicubic and the squash (tanh + 1) / 2, as in the paper.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ImageModel, resize_image

INIT_STD = 0.01  # each level starts near zero: a near-flat grey image, as the paper's
EDGE = 1e-3  # encode holds pixels this far inside (0, 1), where tanh is invertible; after
# rounding to 8 bits that is still exactly 0 and 255


class PyramidImage(ImageModel):
    """Levels [1,3,ceil(h/2^k),ceil(w/2^k)], k = 0 (full size) up to the 1x1 level; decoded
    as (tanh(sum of their bicubic upsamplings) + 1) / 2."""

    # measured with the demo perceptor, 16-24 px, 4-8 cutouts, no smoothing, 40-60 steps: at
    # 0.05 the prompt's red covers 0.29 to 0.38 of the picture; at 0.02 (the RGB pixels' rate:
    # Adam moves each level about lr a step, but the squash halves it near grey) 0.08, at 0.01
    # nothing but grey
    default_lr = 0.05

    def __init__(
        self,
        width: int,
        height: int,
        pixel_size: int = 1,
        *,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        seamless: bool = False,
    ):
        super().__init__(width, height, pixel_size)
        self.seamless = seamless
        levels = []
        for h, w in level_sizes(height, width):
            init = torch.randn(1, 3, h, w, generator=generator, device=generator.device)
            levels.append(nn.Parameter((init * INIT_STD).to(device=device, dtype=torch.float32)))
        self.levels = nn.ParameterList(levels)

    def raw(self) -> Tensor:
        """The sum of the upsampled levels [1,3,height,width], before the squash."""
        total = self.levels[0]  # full size: no resampling, so encode() is exact
        for level in self.levels[1:]:
            total = total + self._upsample(level)
        return total

    def decode(self) -> Tensor:
        """(tanh(raw) + 1) / 2, nearest-upsampled by pixel_size, strictly inside (0, 1)."""
        rgb = (torch.tanh(self.raw()) + 1) / 2
        if self.pixel_size > 1:
            rgb = F.interpolate(rgb, scale_factor=self.pixel_size, mode="nearest")
        return rgb

    @torch.no_grad()
    def encode(self, image: Tensor) -> None:
        """Exactly: the full-size level takes atanh(2x - 1) of the image, the others zero."""
        rgb = resize_image(image.to(self.levels[0]), self.height, self.width)
        for level in self.levels[1:]:
            level.zero_()
        self.levels[0].copy_(torch.atanh(2 * rgb.clamp(EDGE, 1 - EDGE) - 1))

    def spatial_parameters(self) -> list[nn.Parameter]:
        """Every level: a warp moves each on its own grid, with its Adam moments."""
        return list(self.levels)

    @torch.no_grad()
    def warp(self, warp, optimizer=None) -> bool:
        """Warp every level; where black infill uncovers the picture, make it black (the levels
        fill with zeros there, which is grey after the squash)."""
        moved = super().warp(warp, optimizer)
        if warp.infill == "black":
            ones = self.levels[0].new_ones(1, 1, self.height, self.width)
            outside = 1 - warp.apply(ones).clamp(0, 1)
            black = math.atanh(2 * EDGE - 1)
            self.levels[0].add_(outside * (black - self.raw()))
        return moved

    def _upsample(self, level: Tensor) -> Tensor:
        """A level bicubically upsampled to the full size; seamless: wrapping at the borders."""
        if not self.seamless:
            return F.interpolate(
                level, size=(self.height, self.width), mode="bicubic", align_corners=False
            )
        # 3x3 tiles of the level (a circular pad cannot pad a 1x1 level by bicubic's 2 taps),
        # sampled at the full size's pixel centres in the middle tile
        eye = torch.eye(2, 3, device=level.device)[None] / 3
        grid = F.affine_grid(eye, [1, 1, self.height, self.width], align_corners=False)
        tiles = level.repeat(1, 1, 3, 3)
        return F.grid_sample(
            tiles, grid, mode="bicubic", padding_mode="border", align_corners=False
        )


def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """(h, w) of every level: the full size halved (rounding up) until it is 1x1."""
    sizes = [(height, width)]
    while sizes[-1] != (1, 1):
        h, w = sizes[-1]
        sizes.append((-(-h // 2), -(-w // 2)))
    return sizes
