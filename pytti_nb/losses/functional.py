"""Loss terms as small pure functions: prompt distance with weight/stop, masks, TV, HSV MSE.

Weights and stops arrive as Python floats (evaluated per step on the CPU); multiplying a tensor by a
Python float costs no device sync, and branching on one is free.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

HSV_EPS = 1e-3  # bounds the saturation gradient of near-black pixels


class _ReplaceGrad(torch.autograd.Function):
    """Forward value of `fake`, gradient routed into `real` (PyTTI tensor_tools.replace_grad)."""

    @staticmethod
    def forward(ctx, fake, real):
        """Return a copy of `fake`."""
        ctx.real_shape = real.shape
        return fake.clone()

    @staticmethod
    def backward(ctx, grad):
        """Send the whole gradient to `real`."""
        return None, grad.sum_to_size(ctx.real_shape)


def replace_grad(fake: Tensor, real: Tensor) -> Tensor:
    """Value of `fake` in the forward pass, gradient of `real` in the backward pass."""
    return _ReplaceGrad.apply(fake, real)


def spherical_dist(a: Tensor, b: Tensor) -> Tensor:
    """PyTTI distance 2*arcsin(|n(a)-n(b)|/2)^2 between rows: [n,d] x [m,d] -> [n,m]."""
    a = F.normalize(a, dim=-1)[:, None, :]
    b = F.normalize(b, dim=-1)[None, :, :]
    # arcsin(|a-b|/2) is half the angle; atan2(|a-b|, |a+b|) gives the same value without arcsin's
    # fp32 precision loss and infinite gradient near opposite vectors.
    half_angle = torch.atan2((a - b).norm(dim=-1), (a + b).norm(dim=-1))
    return 2 * half_angle.square()


def stopped(loss: Tensor, weight: float, stop: float = -math.inf) -> Tensor:
    """PyTTI |w|*replace_grad(d, max(d, stop)), d = loss*sign(w): no pull below stop, w<0 pushes."""
    if weight == 0:
        # A zero that keeps the graph, so backward() works even when every term is off.
        return loss * 0.0
    d = loss if weight > 0 else -loss
    return abs(weight) * replace_grad(d, d.clamp(min=stop))


def prompt_loss(
    dist: Tensor,
    weight: float,
    stop: float = -math.inf,
    mask_stops: Tensor | None = None,
    mask_weights: Tensor | None = None,
) -> Tensor:
    """PyTTI's Prompt.forward over distances [n,k]: the mean of |w| * replace_grad(d, max(d, S)).

    w = weight * mask_weights (per cutout), d = dist * sign(w) and the stop per cutout
    S = max(mask_stops + min(sign(w), 0), stop): a mask works through stops, so a masked-out
    cutout still counts in the loss value but pulls only where d exceeds its stop, and a
    negative prompt gets an implicit stop of -1 inside its mask. mask_stops None means -inf,
    mask_weights None means 1.
    """
    if mask_weights is None:  # the common case: Python floats, no extra tensors
        sign, scale = (1.0 if weight > 0 else -1.0), abs(weight)
        floor = stop if mask_stops is None else (mask_stops[:, None] + min(sign, 0.0)).clamp(stop)
    else:
        w = weight * mask_weights[:, None]
        sign, scale = w.sign(), w.abs()
        stops = -math.inf if mask_stops is None else mask_stops[:, None]
        floor = (stops + sign.clamp(max=0)).clamp(min=stop)
    d = dist * sign
    # a float floor clamps in place: a tensor made from it would be a host-to-device copy
    bound = torch.maximum(d, floor) if torch.is_tensor(floor) else d.clamp(min=floor)
    return (scale * replace_grad(d, bound)).mean()


def semantic_mask_stops(cutout_emb: Tensor, mask_emb: Tensor, cutoff: float | None) -> Tensor:
    """Per-cutout stops [n] of a semantic mask (PyTTI mask_semantic).

    With a cutoff: 1 where the cutout's distance to the mask text exceeds 0.7 + 0.3 * cutoff
    (outside the mask), else 0. Without one: the distance itself, a soft stop, so the prompt
    pulls a cutout only while it is farther from the prompt than from the mask text. No
    gradient flows into the mask: it selects, it must not pull toward the mask text.
    """
    dist = spherical_dist(cutout_emb.detach(), mask_emb.detach()).mean(dim=1)  # [n]
    if cutoff is None:
        return dist
    return (dist > 0.7 + 0.3 * cutoff).to(dist.dtype)


def position_mask_stops(centers: Tensor, sizes: Tensor, kind, cutoff: float) -> Tensor:
    """Per-cutout stops [n] of a position mask (PyTTI's r/l/u/d/n/f): 1 outside it, else 0.

    Centres are in [0,1] with y down, sizes the crop side over the image's long side; `kind`
    is a position MaskKind, whose gate names the measure and the side that is inside.
    """
    measure, inside_above = kind.gate
    values = (centers[:, 0], centers[:, 1], sizes)[measure]
    inside = values >= cutoff if inside_above else values <= cutoff
    return (~inside).to(sizes.dtype)


def matched_dist(cutout_emb: Tensor, ref_emb: Tensor, index: Tensor) -> Tensor:
    """Distances [n,1] from each cutout to the reference cutout it was matched to."""
    return spherical_dist_rows(cutout_emb, ref_emb[index])[:, None]


def spherical_dist_rows(a: Tensor, b: Tensor) -> Tensor:
    """spherical_dist between matching rows of a and b: [n,d] x [n,d] -> [n]."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    return 2 * torch.atan2((a - b).norm(dim=-1), (a + b).norm(dim=-1)).square()


def tv_loss(image: Tensor, wrap: bool = False) -> Tensor:
    """Mean squared horizontal plus vertical neighbour difference, edges replicated (PyTTI TV);
    with `wrap` (a seamless image) the last column's neighbour is the first, likewise rows."""
    if wrap:  # the seams are differences like any other, so smoothing heals them too
        dx = image.roll(-1, dims=-1) - image
        dy = image.roll(-1, dims=-2) - image
        return (dx.square() + dy.square()).mean()
    x = F.pad(image, (0, 1, 0, 1), mode="replicate")
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx.square() + dy.square()).mean()


def _saturation_value(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """HSV saturation and value channels of [b,3,H,W] RGB, differentiable."""
    value = rgb.amax(dim=1, keepdim=True)
    low = rgb.amin(dim=1, keepdim=True)
    return (value - low) / (value + HSV_EPS), value


def hsv(rgb: Tensor) -> Tensor:
    """[b,5,H,W] channels R, G, B, S, V of an RGB image (what PyTTI's HSVLoss compares)."""
    return torch.cat((rgb, *_saturation_value(rgb)), dim=1)


def hsv_mse(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """MSE over channels [R,G,B,S,V] of two RGB images (PyTTI HSVLoss for pixel models).

    A mask [1,1,H,W] multiplies the channels after the HSV conversion, as PyTTI's does.
    """
    return masked_mse(hsv(a), hsv(b), mask)


def masked_mse(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """F.mse_loss of a and b, both multiplied by the mask first when there is one (PyTTI)."""
    if mask is None:
        return F.mse_loss(a, b)
    return F.mse_loss(a * mask, b * mask)


def sobel_edges(rgb: Tensor, wrap: bool = False) -> Tensor:
    """[2b,1,H,W] horizontal then vertical Sobel/8 edges of the grey image (PyTTI EdgeLoss);
    with `wrap` (a seamless image) the edges across the seams are read, not zero padding."""
    grey = (rgb * rgb.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    dx = rgb.new_tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8
    kernels = torch.stack((dx, dx.T))[:, None]  # [2,1,3,3]: d/dx, d/dy
    if wrap:
        edges = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="circular"), kernels)  # [b,2,H,W]
    else:
        edges = F.conv2d(grey, kernels, padding=1)
    return torch.cat((edges[:, :1], edges[:, 1:]))
