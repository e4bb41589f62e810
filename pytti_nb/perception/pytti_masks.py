"""PyTTI's mask geometry (mask_geometry: pytti): what its letter and image masks measured.

PyTTI's make_mask (pytti-core Perceptor/Prompt.py 48) calls a mask as mask_fun(size, pos, ...),
but every mask is declared (pos, size, ...) (52-86, 111): each read the cutout's size as its
position and its position as its size. So `_r`, `_l`, `_u` and `_d` compared size + pos/2 with
the cutoff, `_n` and `_f` the smaller of pos's two coordinates, and an image mask weighed a
cutout by the mask's mean over the box from size to size + pos. A video mask was set through
Prompt.set_mask (271-279) as a plain mask_image, which Prompt.forward calls in the declared
order (297): it keeps the cutout's own geometry. pos is a crop's top-left corner and size its
side, each over the image's width and height (Perceptor/cutouts/samplers.py).
"""

import torch
from torch import Tensor


def pytti_boxes(cuts) -> tuple[Tensor, Tensor]:
    """PyTTI's (pos, size) of each cutout [n,2]: its top-left corner and side, x over the
    image's width and y over its height."""
    height, width = cuts.image_size
    side = cuts.sizes * max(height, width)  # pixels
    size = torch.stack((side / width, side / height), dim=1)
    return cuts.centers - size / 2, size


def swapped_measures(cuts) -> tuple[Tensor, Tensor]:
    """What PyTTI's letter masks measured as each cutout's centre [n,2] (size + pos/2) and
    size [n] (the smaller coordinate of pos), for losses.position_mask_stops."""
    pos, size = pytti_boxes(cuts)
    return size + pos / 2, pos.min(dim=1).values


def box_table(mask: Tensor) -> Tensor:
    """The summed-area table [H+1,W+1] of a mask [1,1,H,W]: box sums in four lookups."""
    exact = torch.float32 if mask.device.type == "mps" else torch.float64  # MPS has no float64
    table = mask[0, 0].to(exact).cumsum(0).cumsum(1)
    return torch.nn.functional.pad(table, (1, 0, 1, 0))


def swapped_box_weights(table: Tensor, cuts) -> Tensor:
    """Each cutout's weight [n] under PyTTI's image mask: the mask's mean over the box from
    size to size + pos, in the mask's pixels floored and clamped to its last row and column
    (Prompt.py 114-150); without PyTTI's error diffusion between cutouts. An empty box weighs
    0 (PyTTI: 0, or NaN when both sides were reversed, the mean of an empty slice)."""
    height, width = table.shape[0] - 1, table.shape[1] - 1
    pos, size = pytti_boxes(cuts)
    scale = size.new_tensor([width, height])
    last = torch.tensor([width - 1, height - 1], device=size.device)
    low = (size * scale).floor().long().clamp(min=0).minimum(last)
    high = ((size + pos) * scale).floor().long().clamp(min=0).minimum(last)
    (x0, y0), (x1, y1) = low.T, high.T
    sums = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    area = (x1 - x0) * (y1 - y0)
    full = (x1 > x0) & (y1 > y0)
    return torch.where(full, sums / area.clamp(min=1), 0.0).to(cuts.sizes.dtype)
