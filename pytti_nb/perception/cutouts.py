"""Random augmented square crops ("cutouts") of an image for the perceptor.

One step samples every crop at once: all randomness is drawn as [n]-shaped tensors from one
`torch.Generator` on the image's device, turned into [n,2,3] affines ("thetas"), and sampled with
ONE `F.affine_grid` + ONE `F.grid_sample`; colour jitter and noise are elementwise afterwards.

Antialiasing (mip-mapping): a crop much larger than `size` would alias under plain bilinear
sampling (PyTTI area-averaged each crop in a Python loop). Instead the image is area-downscaled
once per step by 2, 4 and 8, the levels are laid side by side in one atlas image, and each crop
blends the two levels around its own scale (trilinear filtering) with ONE 2-D `grid_sample`
over the atlas. Border modes are applied to the sampling coordinates first, so every tap lands
inside a level. (A 3-D grid_sample over a stack of full-size levels did the same at 4x the cost
of its forward and backward on the CPU.)
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import SettingsError, shown

BORDER_MODES = ("clamp", "mirror", "wrap", "black", "smear")
MAX_MIP_LEVELS = 4  # blur up to 8x: enough for crops up to ~8x the cutout size
MASK_RESOLUTION = 64  # masks are area-downscaled to this max side before sampling
MASK_SAMPLES = 8  # mask_weights averages an 8x8 grid per crop


@dataclass(frozen=True)
class CutoutAugs:
    """Per-cutout augmentation strengths; a field set to 0 turns that augmentation off."""

    flip: float = 0.5  # probability of a horizontal flip
    rotate: float = 5.0  # max rotation, degrees
    translate: float = 0.05  # max centre shift, fraction of the crop side
    scale: float = 0.05  # max relative change of the crop side
    noise: float = 0.1  # per-cutout Gaussian noise with std ~ U(0, noise) (PyTTI noise_fac)
    color_jitter: float = (
        0.01  # max brightness offset, saturation change and hue turn (of a full turn)
    )
    chain: str = "gentle"  # or "pytti": PyTTI's kornia chain (only `noise` is read then)
    # the "das" chain's strengths at this step (set per step from the das_* schedules); it
    # reads neither the fields above nor `noise`
    das_noise: float = 0.0  # std of the Gaussian noise added to every crop
    das_color: float = 0.0  # largest per-channel colour scale change and offset

    @classmethod
    def of(cls, settings) -> "CutoutAugs":
        """The augmentations a run's settings ask for."""
        s = settings
        return cls(
            flip=s.cutout_flip,
            rotate=s.cutout_rotate,
            noise=s.cutout_noise,
            color_jitter=s.cutout_color_jitter,
            chain=s.augmentations,
        )


@dataclass
class Cutouts:
    """A batch of cutouts plus the geometry that produced them."""

    images: Tensor  # [n,3,size,size], roughly [0,1], NOT CLIP-normalised
    # [n,2] crop centre (x, y) in [0,1] image coords before jitter; off-edge by <= `border` allowed
    centers: Tensor
    sizes: Tensor  # [n] crop side as a fraction of the image's max side, before jitter
    thetas: Tensor  # [n,2,3] affines used (grid_sample's normalised coords), to sample masks alike
    border_mode: str = "clamp"
    image_size: tuple = (1, 1)  # (height, width) of the image cut, in pixels
    mask_geometry: str = "cutout"  # how prompt masks read this geometry (setting mask_geometry)
    _centers_on_cpu: Tensor | None = field(default=None, repr=False, compare=False)

    def centers_on_cpu(self) -> Tensor:
        """The centres on the CPU, copied once per batch (location matching's one sync)."""
        if self._centers_on_cpu is None:
            self._centers_on_cpu = self.centers.detach().float().cpu()
        return self._centers_on_cpu


def make_cutouts(
    image: Tensor,
    n: int,
    size: int,
    *,
    cut_pow: float,
    border: float,
    border_mode: str,
    augs: CutoutAugs,
    generator: torch.Generator,
    seamless: bool = False,
) -> Cutouts:
    """Sample `n` random augmented crops of `image` resized to `size` (PyTTI sampler, vectorised).

    Args:
        image: [1,3,H,W] in [0,1], fp32 (low-precision grids misplace samples); gradients flow
            back into it.
        n: number of cutouts.
        size: output side in pixels (the perceptor's input resolution).
        cut_pow: crop side = short_side * clip(N(0.8, 0.3), size/short_side, 1) ** cut_pow.
        border: fraction of the image size that crops may extend past the edges.
        border_mode: one of BORDER_MODES, how over-edge crops are filled.
        augs: augmentation strengths.
        generator: the only source of randomness; must live on the image's device.
        seamless: the image tiles: crops wrap around its borders whatever `border_mode` says,
            and their centres range over the whole image, so as many straddle a seam as
            cover any other place (`border` is not read).
    """
    _check(n, size, border, border_mode)
    if seamless:
        border_mode = "wrap"
    height, width = image.shape[-2:]
    dev = image.device
    # Fixed draw order (uniforms, normals, noise) keeps runs bit-reproducible for a generator state.
    u = torch.rand(n, 11, generator=generator, device=dev)  # one column per random quantity
    normal = torch.randn(n, generator=generator, device=dev)
    sides, cx, cy = _place_crops(
        normal, u[:, 0:2], height, width, size, cut_pow, border, border_mode, seamless
    )
    if augs.chain == "das":
        v = torch.rand(n, DAS_DRAWS, generator=generator, device=dev)
        thetas = _thetas(sides, cx, cy, u[:, 2:7], height, width, NO_JITTER, border_mode)
        thetas, border_mode = _das_shift(thetas, v[:, :2]), "wrap"
        crops = crop_with_thetas(image, thetas.to(image.dtype), size, border_mode)
        crops = _das_colour(crops, v[:, 2:8], augs.das_color)
        crops = _das_noise(crops, augs.das_noise, generator)
        # where each crop's content now comes from, as the shifted image is cut
        cx = (thetas[:, 0, 2] + 1).remainder(2) / 2 * width
        cy = (thetas[:, 1, 2] + 1).remainder(2) / 2 * height
    elif augs.chain == "pytti":
        v = torch.rand(n, PYTTI_DRAWS, generator=generator, device=dev)
        thetas = _thetas(sides, cx, cy, u[:, 2:7], height, width, NO_JITTER, border_mode)
        crops = crop_with_thetas(image, thetas.to(image.dtype), size, border_mode, _pytti_warp(v))
        crops = _pytti_colour(crops, v)
        crops = _pytti_erase(crops, v)
    else:
        thetas = _thetas(sides, cx, cy, u[:, 2:7], height, width, augs, border_mode)
        crops = crop_with_thetas(image, thetas.to(image.dtype), size, border_mode)
        crops = _color_jitter(crops, u[:, 7:10], augs.color_jitter)
    if augs.chain != "das":
        crops = _add_noise(crops, u[:, 10], augs.noise, generator)
    centers = torch.stack((cx / width, cy / height), dim=1)
    sizes = sides / max(height, width)
    return Cutouts(crops, centers, sizes, thetas, border_mode, image_size=(height, width))


def crop_with_thetas(
    image: Tensor, thetas: Tensor, size: int, border_mode: str = "black", inner=None
) -> Tensor:
    """Crops [n,C,size,size] of `image` [1,C,H,W] at [n,2,3] affines, in one 2-D grid_sample.

    `inner` [n,3,3], if given, first moves each output position within its crop (a projective
    map in the crop's normalised coords, clamped to the crop as kornia's border padding).
    """
    n, channels = thetas.shape[0], image.shape[1]
    height, width = image.shape[-2:]
    levels = _mip_levels(max(height, width), size)
    atlas, boxes = _mip_atlas(image, levels, border_mode)  # [1,C,H+2,sum(w_k+2)], [L,4]
    # [n,size,size,2] as (x, y) in the image's normalised coords
    if inner is None:
        grid = F.affine_grid(thetas, [n, 1, size, size], align_corners=False)
    else:
        grid = _inner_grid(thetas, inner, size)
    grid, inside = _apply_border(grid, border_mode)
    # Each crop blends the two mip levels around its own scale (trilinear filtering), both read
    # from the atlas: ONE 2-D grid_sample for all crops and both levels.
    level = _level(thetas, height, width, size, levels)  # [n] fractional
    low = level.floor().long()
    high = (low + 1).clamp(max=levels - 1)
    both = torch.cat((_to_atlas(grid, boxes[low], atlas), _to_atlas(grid, boxes[high], atlas)))
    # All crops share ONE grid over a batch of 1: the image gradient is [1,C,H,W], not n copies.
    out = F.grid_sample(
        atlas,
        both.reshape(1, 2 * n * size, size, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )
    out = out.reshape(channels, 2, n, size, size).permute(1, 2, 0, 3, 4)  # [2,n,C,size,size]
    frac = (level - low).view(n, 1, 1, 1).to(out.dtype)
    crops = out[0] + frac * (out[1] - out[0])
    return crops if inside is None else crops * inside[:, None].to(crops.dtype)


def mask_weights(mask: Tensor, cutouts: Cutouts) -> Tensor:
    """Mean of `mask` [1,1,H,W] inside each cutout -> [n], via its affine (PyTTI image masks)."""
    height, width = mask.shape[-2:]
    shrink = MASK_RESOLUTION / max(height, width)
    mask = mask.to(cutouts.thetas)
    # a low-resolution copy is enough for a mean; area resize keeps it exact on average
    if shrink < 1:
        mask = F.interpolate(
            mask, size=(max(round(height * shrink), 1), max(round(width * shrink), 1)), mode="area"
        )
    samples = crop_with_thetas(mask, cutouts.thetas, MASK_SAMPLES, cutouts.border_mode)
    return samples.mean(dim=(1, 2, 3))


def _check(n: int, size: int, border: float, border_mode: str) -> None:
    """Raise SettingsError for cutout settings that cannot be sampled."""
    problems = []
    if border_mode not in BORDER_MODES:
        problems.append(
            f"border_mode {shown(border_mode)} is unknown; use one of {', '.join(BORDER_MODES)}"
        )
    if n < 1:
        problems.append(f"cutouts is {shown(n)}; it must be a whole number >= 1")
    if size < 1:
        problems.append(f"cutout size is {shown(size)}; it must be a whole number >= 1")
    if border < 0:
        problems.append(f"cutout_border is {shown(border)}; it must be >= 0")
    if problems:
        raise SettingsError(problems)


# PyTTI's kornia chain (pytti-core Perceptor/cutouts/augs.py pytti_classic), drawn per crop:
# HorizontalFlip p .3, Affine (30 degrees, shift 0.1) p .8, Perspective 0.2 p .4,
# ColorJitter (hue .01, saturation .01) p .7, Erasing (area .1-.4, aspect .3-3.3) p .7.
NO_JITTER = CutoutAugs(flip=0, rotate=0, translate=0, scale=0, noise=0, color_jitter=0)
PYTTI_DRAWS = 22  # uniform numbers per crop, one column per random quantity
_CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))


# Direct Ascent Synthesis' augmentations (Fort and Whitaker, arXiv 2502.07753): the whole image
# shifted, wrapping, by up to 28 pixels of its 336 (1/12 of the side) each way, then noise and a
# per-channel colour scale and offset; the paper's code draws its noise uniform, the issue asks
# for Gaussian noise
DAS_SHIFT = 1 / 12
DAS_DRAWS = 8  # uniform numbers per crop: a shift (2), colour scales (3) and offsets (3)


def _das_shift(thetas: Tensor, u: Tensor) -> Tensor:
    """The crop affines moved by a random whole-image shift (normalised units: 2 = the side)."""
    shift = 2 * DAS_SHIFT * (2 * u - 1)  # [n,2] as (x, y)
    return torch.cat((thetas[:, :, :2], thetas[:, :, 2:] + shift[:, :, None]), dim=2)


def _das_colour(x: Tensor, u: Tensor, amount: float) -> Tensor:
    """Each crop's channels scaled by 1 +- amount and offset by +- amount, per channel."""
    if amount == 0:
        return x
    scale = (1 + amount * (2 * u[:, :3] - 1)).view(-1, 3, 1, 1).to(x.dtype)
    offset = (amount * (2 * u[:, 3:] - 1)).view(-1, 3, 1, 1).to(x.dtype)
    return x * scale + offset


def _das_noise(x: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """Gaussian noise of one std on every crop."""
    if std == 0:
        return x
    return x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _pytti_warp(v: Tensor) -> Tensor:
    """[n,3,3] output-to-crop maps: perspective, then rotation and shift, then flip."""
    n, dev = v.shape[0], v.device
    on = lambda column, p: (v[:, column] < p).to(v.dtype)  # noqa: E731  (a per-crop gate)
    flip = 1 - 2 * on(0, 0.3)
    angle = math.radians(30) * (2 * v[:, 2] - 1) * on(1, 0.8)
    shift = 0.2 * (2 * v[:, 3:5] - 1) * on(1, 0.8)[:, None]  # 0.1 of the side, in [-1,1] units
    cos, sin = angle.cos(), angle.sin()
    zero, one = torch.zeros_like(cos), torch.ones_like(cos)
    rigid = torch.stack(
        (cos * flip, -sin, shift[:, 0], sin * flip, cos, shift[:, 1], zero, zero, one), dim=1
    ).view(n, 3, 3)
    # each corner pulled inward by up to 0.2 of the half side (kornia's distortion_scale)
    corners = torch.tensor(_CORNERS, device=dev, dtype=v.dtype)
    moved = corners - corners * 0.2 * v[:, 6:14].view(n, 4, 2) * on(5, 0.4)[:, None, None]
    return rigid @ _homography(corners.expand(n, 4, 2), moved)


def _homography(src: Tensor, dst: Tensor) -> Tensor:
    """[n,3,3] projective maps taking the 4 points src [n,4,2] to dst, solved as one batch."""
    x, y = src[..., 0], src[..., 1]
    u, w = dst[..., 0], dst[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack((x, y, one, zero, zero, zero, -u * x, -u * y), dim=-1)
    rows_w = torch.stack((zero, zero, zero, x, y, one, -w * x, -w * y), dim=-1)
    system = torch.cat((rows_u, rows_w), dim=1)  # [n,8,8]
    h = torch.linalg.solve(system, torch.cat((u, w), dim=1))  # [n,8]
    return torch.cat((h, torch.ones_like(h[:, :1])), dim=1).view(-1, 3, 3)


def _inner_grid(thetas: Tensor, inner: Tensor, size: int) -> Tensor:
    """The sampling grid [n,s,s,2]: output positions moved by `inner`, clamped to the crop,
    then placed in the image by the crop affines."""
    n = thetas.shape[0]
    eye = torch.eye(2, 3, device=thetas.device, dtype=thetas.dtype).expand(n, 2, 3)
    base = F.affine_grid(eye, [n, 1, size, size], align_corners=False)  # [n,s,s,2]
    points = torch.cat((base, torch.ones_like(base[..., :1])), dim=-1)  # homogeneous
    moved = torch.einsum("nij,nhwj->nhwi", inner.to(thetas.dtype), points)
    crop = (moved[..., :2] / moved[..., 2:]).clamp(-1, 1)
    return torch.einsum("nij,nhwj->nhwi", thetas[:, :, :2], crop) + thetas[:, None, None, :, 2]


def _pytti_colour(x: Tensor, v: Tensor) -> Tensor:
    """kornia's ColorJitter(hue=0.01, saturation=0.01, p=0.7), as one colour matrix per crop."""
    on = (v[:, 14] < 0.7).to(x.dtype)
    u = torch.stack((torch.full_like(v[:, 15], 0.5), v[:, 15], v[:, 16]), dim=1)  # no brightness
    jittered = _color_jitter(x, u, 0.01)
    return x + on.view(-1, 1, 1, 1) * (jittered - x)


def _pytti_erase(x: Tensor, v: Tensor) -> Tensor:
    """kornia's RandomErasing(scale=(0.1, 0.4), ratio=(0.3, 1/0.3), p=0.7): a black box."""
    size = x.shape[-1]
    area = 0.1 + 0.3 * v[:, 18]
    ratio = torch.exp(math.log(0.3) + (math.log(1 / 0.3) - math.log(0.3)) * v[:, 19])
    h, w = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    top, left = (1 - h) * v[:, 20], (1 - w) * v[:, 21]
    pos = (torch.arange(size, device=x.device, dtype=x.dtype) + 0.5) / size
    rows = (pos[None] >= top[:, None]) & (pos[None] < (top + h)[:, None])  # [n,s]
    cols = (pos[None] >= left[:, None]) & (pos[None] < (left + w)[:, None])
    box = rows[:, :, None] & cols[:, None, :] & (v[:, 17] < 0.7)[:, None, None]
    return x * (~box).to(x.dtype)[:, None]


def _place_crops(normal, u, height, width, size, cut_pow, border, border_mode, seamless=False):
    """Crop sides and centres in pixels: PyTTI's side = short_side * clip(N(0.8, 0.3),
    size / short_side, 1) ** cut_pow, so the largest crop is the short side's square."""
    short = min(height, width)
    min_frac = min(size / short, 1.0)
    sides = short * (0.8 + 0.3 * normal).clamp(min_frac, 1.0) ** cut_pow  # [n]
    if seamless:  # a torus has no edges: centres uniform over it, crops wrap across the seams
        return sides, u[:, 0] * width, u[:, 1] * height
    # Centres range so that crops pass the edges by at most `border` of the image size.
    cx = width / 2 + (u[:, 0] - 0.5) * (width * (1 + 2 * border) - sides).clamp(min=0)
    cy = height / 2 + (u[:, 1] - 0.5) * (height * (1 + 2 * border) - sides).clamp(min=0)
    if border_mode == "clamp":  # move the crop back inside, as PyTTI clamps its offsets
        cx = torch.clamp(cx, min=sides / 2, max=width - sides / 2)
        cy = torch.clamp(cy, min=sides / 2, max=height - sides / 2)
    return sides, cx, cy


def _thetas(sides, cx, cy, u, height, width, augs, border_mode):
    """[n,2,3] affines, output to image coords: crop, scale/shift jitter, rotation and flip."""
    side = sides * (1 + augs.scale * (2 * u[:, 0] - 1))
    cx = cx + augs.translate * side * (2 * u[:, 1] - 1)
    cy = cy + augs.translate * side * (2 * u[:, 2] - 1)
    angle = math.radians(augs.rotate) * (2 * u[:, 3] - 1)
    flip = torch.where(u[:, 4] < augs.flip, -1.0, 1.0)
    cos, sin = angle.cos(), angle.sin()
    if border_mode == "clamp":
        side, cx, cy = _fit_inside(side, cx, cy, cos, sin, height, width)
    # A = diag(1/W, 1/H) * side * R(angle) * diag(flip, 1): crops are square in pixels on any aspect
    row_x = torch.stack(
        (side * cos * flip / width, -side * sin / width, 2 * cx / width - 1), dim=-1
    )
    row_y = torch.stack(
        (side * sin * flip / height, side * cos / height, 2 * cy / height - 1), dim=-1
    )
    return torch.stack((row_x, row_y), dim=1)


def _fit_inside(side, cx, cy, cos, sin, height, width):
    """Shrink and move jittered, rotated crops so their bounding box stays inside (clamp mode)."""
    reach = cos.abs() + sin.abs()  # bounding-box side of a rotated unit square
    side = torch.minimum(side, min(height, width) / reach)
    half = side * reach / 2
    return (
        side,
        torch.clamp(cx, min=half, max=width - half),
        torch.clamp(cy, min=half, max=height - half),
    )


def _mip_levels(max_side: int, size: int) -> int:
    """How many blur levels crops of this image need (Python arithmetic, no device sync)."""
    ratio = max_side / size
    return 1 if ratio <= 1 else min(MAX_MIP_LEVELS, 1 + math.ceil(math.log2(ratio)))


def _mip_atlas(image: Tensor, levels: int, border_mode: str):
    """The image and its 2^k area-downscaled copies side by side, each with a 1-px pad.

    Returns the atlas [1,C,H+2,sum(w_k+2)] and per level the pixel box (x0, y0, w, h) of its
    unpadded content. The pad (circular for wrap, else the edge pixels) keeps bilinear taps
    inside a level.
    """
    height, width = image.shape[-2:]
    pad_mode = "circular" if border_mode == "wrap" else "replicate"
    tiles, boxes, x0 = [], [], 0
    for k in range(levels):  # a loop over <= MAX_MIP_LEVELS levels, not over cutouts
        h, w = max(height >> k, 1), max(width >> k, 1)
        mip = image if k == 0 else F.interpolate(image, size=(h, w), mode="area")
        tile = F.pad(mip, (1, 1, 1, 1), mode=pad_mode)
        tiles.append(F.pad(tile, (0, 0, 0, height - h)))  # align heights; the rest is unused
        boxes.append((x0 + 1, 1, w, h))
        x0 += w + 2
    box = torch.tensor(boxes, device=image.device, dtype=torch.float32)
    return torch.cat(tiles, dim=3), box


def _apply_border(grid: Tensor, border_mode: str):
    """Fold normalised coords into [-1,1] as the border mode says; for black also an in-mask."""
    if border_mode == "wrap":
        return (grid + 1).remainder(2) - 1, None
    if border_mode == "mirror":  # reflect about the image edges, as grid_sample's reflection
        u = (grid + 1).remainder(4)
        return torch.where(u > 2, 4 - u, u) - 1, None
    if border_mode == "black":
        inside = (grid.abs() <= 1).all(dim=-1)  # [n,size,size]
        return grid.clamp(-1, 1), inside
    return grid.clamp(-1, 1), None  # clamp (crops are inside anyway) and smear


def _to_atlas(grid: Tensor, box: Tensor, atlas: Tensor) -> Tensor:
    """Map image-normalised coords [n,s,s,2] into the atlas' normalised coords, per crop box."""
    atlas_w, atlas_h = atlas.shape[-1], atlas.shape[-2]
    x0, y0, w, h = (box[:, i].view(-1, 1, 1) for i in range(4))
    px = x0 + (grid[..., 0] + 1) * (w / 2)  # pixel-edge coords inside the level's box
    py = y0 + (grid[..., 1] + 1) * (h / 2)
    return torch.stack((px * (2 / atlas_w) - 1, py * (2 / atlas_h) - 1), dim=-1)


def _level(thetas: Tensor, height: int, width: int, size: int, levels: int) -> Tensor:
    """Fractional mip level of each crop, log2(crop side in pixels / size), in [0, levels-1]."""
    det = thetas[:, 0, 0] * thetas[:, 1, 1] - thetas[:, 0, 1] * thetas[:, 1, 0]  # [n]
    side_px = (det.abs() * (height * width)).sqrt()
    return torch.log2(side_px / size).clamp(0, levels - 1)


def _color_jitter(x: Tensor, u: Tensor, amount: float) -> Tensor:
    """Per-cutout brightness offset, saturation scale and hue turn as one [n,3,3] colour matrix."""
    if amount == 0:
        return x
    brightness = amount * (2 * u[:, 0] - 1)
    saturation = 1 + amount * (2 * u[:, 1] - 1)
    hue = 2 * math.pi * amount * (2 * u[:, 2] - 1)
    eye = torch.eye(3, device=x.device, dtype=x.dtype)
    # projection onto the grey axis
    grey = torch.full((3, 3), 1 / 3, device=x.device, dtype=x.dtype)
    # cross product with the grey axis
    cross = (eye.roll(1, dims=0) - eye.roll(1, dims=1)) / math.sqrt(3)
    cos, sin = hue.cos().view(-1, 1, 1).to(x.dtype), hue.sin().view(-1, 1, 1).to(x.dtype)
    # Rodrigues rotation about the grey axis: a hue turn
    turn = cos * eye + sin * cross + (1 - cos) * grey
    # scale the chroma plane only
    matrix = grey + saturation.view(-1, 1, 1).to(x.dtype) * (turn - grey)
    return torch.einsum("nij,njhw->nihw", matrix, x) + brightness.view(-1, 1, 1, 1).to(x.dtype)


def _add_noise(x: Tensor, u: Tensor, amount: float, generator: torch.Generator) -> Tensor:
    """Add Gaussian noise with a per-cutout std drawn from U(0, amount) (PyTTI noise_fac)."""
    if amount == 0:
        return x
    std = (amount * u).view(-1, 1, 1, 1).to(x.dtype)
    return x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
