"""Fit palettes to an image's colours: two-level k-means, on the device, no random draws.

A Limited Palette image shows, at each pixel, colour `round(value * (K-1))` of one of P
palettes, each palette sorted by brightness. So the fit first splits the pixels into P colour
groups (k-means in RGB), then each group into K brightness levels (1-D k-means), and finally
refines all P*K colours together (Lloyd's iterations, every pixel to its nearest colour).
Starting points are farthest-point picks, so a fit is deterministic and a resumed run that
re-encodes a frame gets the same palette.
"""

import torch
from torch import Tensor

HSP = (0.299, 0.587, 0.114)  # HSP brightness weights (alienryderflex.com/hsp.html), as PyTTI
ITERATIONS = 10


def brightness(rgb: Tensor) -> Tensor:
    """HSP brightness sqrt(0.299 r^2 + 0.587 g^2 + 0.114 b^2) over the last dim."""
    # a norm, not sqrt(sum): its gradient at black is 0 where sqrt's would be NaN
    return torch.linalg.vector_norm(rgb * rgb.new_tensor(HSP).sqrt(), dim=-1)


def sort_by_brightness(palette: Tensor) -> Tensor:
    """Each palette of [K,P,3] sorted from dark to bright (differentiable in the colours)."""
    order = brightness(palette).argsort(dim=0)
    return palette.gather(0, order[..., None].expand_as(palette))


def fit_palettes(pixels: Tensor, palettes: int, size: int) -> Tensor:
    """P palettes of K colours [K,P,3], sorted by brightness, fitted to pixels [N,3]."""
    groups = kmeans(pixels, _farthest_points(pixels, palettes), ITERATIONS)[1]
    levels = torch.empty(size, palettes, 3, device=pixels.device, dtype=pixels.dtype)
    for p in range(palettes):  # P small 1-D fits; the pixel work inside each is batched
        members = pixels[groups == p]
        if members.shape[0] == 0:
            members = pixels  # an empty group (fewer colours than palettes) spans the image
        levels[:, p] = _brightness_levels(members, size)
    refined = kmeans(pixels, levels.reshape(-1, 3), ITERATIONS)[0]
    return sort_by_brightness(refined.reshape(size, palettes, 3))


def refine(pixels: Tensor, palette: Tensor, iterations: int) -> Tensor:
    """The palette [K,P,3] after Lloyd's iterations from its own colours, sorted again."""
    size, palettes, _ = palette.shape
    refined = kmeans(pixels, palette.reshape(-1, 3), iterations)[0]
    return sort_by_brightness(refined.reshape(size, palettes, 3))


def nearest(pixels: Tensor, palette: Tensor) -> tuple[Tensor, Tensor]:
    """For pixels [N,3], the (level, palette) indices [N] of their nearest palette colour."""
    size, palettes, _ = palette.shape
    index = torch.cdist(pixels, palette.reshape(-1, 3)).argmin(1)
    return index // palettes, index % palettes


def kmeans(points: Tensor, centres: Tensor, iterations: int) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means from the given centres [k,d]; (centres, assignment [N]).

    A centre left without points keeps its place, so a palette never loses a slot.
    """
    centres = centres.clone()
    assign = torch.cdist(points, centres).argmin(1)
    for _ in range(iterations):
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=centres.shape[0]).to(points.dtype)[:, None]
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        assign = torch.cdist(points, centres).argmin(1)
    return centres, assign


def _farthest_points(points: Tensor, k: int) -> Tensor:
    """k well-spread starting centres: the point farthest from the mean, then farthest-first."""
    first = (points - points.mean(0)).square().sum(1).argmax()
    chosen = [first]
    gap = (points - points[first]).square().sum(1)
    for _ in range(k - 1):
        nxt = gap.argmax()
        chosen.append(nxt)
        gap = torch.minimum(gap, (points - points[nxt]).square().sum(1))
    return points[torch.stack(chosen)]


def _brightness_levels(members: Tensor, size: int) -> Tensor:
    """K colours [K,3] of a group: the means of its K brightness levels (1-D k-means)."""
    light = brightness(members)
    quantiles = torch.linspace(0, 1, size, device=members.device, dtype=members.dtype)
    start = torch.quantile(light, quantiles)[:, None]
    centres, assign = kmeans(light[:, None], start, ITERATIONS)
    sums = torch.zeros(size, 3, device=members.device, dtype=members.dtype)
    sums.index_add_(0, assign, members)
    counts = torch.bincount(assign, minlength=size).to(members.dtype)[:, None]
    grey = centres.expand(-1, 3)  # a level without pixels: a grey of its brightness
    return torch.where(counts > 0, sums / counts.clamp_min(1), grey)
