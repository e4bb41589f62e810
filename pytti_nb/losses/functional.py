"""Loss terms as small pure functions: prompt distance with weight/stop, masks, TV, HSV MSE.

Weights and stops arrive as Python floats (evaluated per step on the CPU); multiplying a tensor by a
Python float costs no device sync, and branching on one is free.
"""

import math
import operator
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PromptError

POSITION_MASKS = ("a", "r", "l", "u", "d", "n", "f")
SEMANTIC_SOFT_CENTER = 0.85  # 0.7 + 0.3 * 0.5: PyTTI's threshold at the default cutoff
SEMANTIC_SOFT_WIDTH = 0.05  # sigmoid width of the soft gate, in spherical-distance units
HSV_EPS = 1e-3  # bounds the saturation gradient of near-black pixels
# letter -> (0: centre x, 1: centre y, 2: size; comparison with the cutoff)
_POSITION_GATES = MappingProxyType(
    {
        "r": (0, operator.gt),
        "l": (0, operator.le),
        "u": (1, operator.lt),
        "d": (1, operator.ge),
        "n": (2, operator.gt),
        "f": (2, operator.le),
    }
)


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
    cutout_emb: Tensor,
    target_emb: Tensor,
    weight: float,
    stop: float,
    cutout_weights: Tensor | None = None,
) -> Tensor:
    """Mean over cutouts and targets of the weighted, stopped distance (PyTTI Prompt.forward)."""
    loss = stopped(spherical_dist(cutout_emb, target_emb), weight, stop)  # [n,k]
    if cutout_weights is not None:
        loss = loss * cutout_weights[:, None]
    return loss.mean()


def semantic_mask_weights(cutout_emb: Tensor, mask_emb: Tensor, cutoff: float | None) -> Tensor:
    """Per-cutout gate [n] by distance to a mask prompt: 1 where dist <= 0.7 + 0.3*cutoff (PyTTI).

    With no cutoff the gate is soft, sigmoid((0.85 - dist) / 0.05): centred on PyTTI's threshold at
    the default cutoff 0.5, so cutouts near the mask text weigh ~1 and far ones fade to ~0 smoothly.
    (PyTTI instead used the raw distance as a per-cutout stop.) The gate carries no gradient: a mask
    selects cutouts, it must not pull the image toward the mask text.
    """
    # [n], mean over mask embeddings
    dist = spherical_dist(cutout_emb.detach(), mask_emb.detach()).mean(dim=1)
    if cutoff is None:
        return torch.sigmoid((SEMANTIC_SOFT_CENTER - dist) / SEMANTIC_SOFT_WIDTH)
    return (dist <= 0.7 + 0.3 * cutoff).to(dist.dtype)


def position_mask_weights(centers: Tensor, sizes: Tensor, kind: str, cutoff: float) -> Tensor:
    """0/1 weights [n] for PyTTI letter masks a/r/l/u/d/n/f by crop centre (y down) or size."""
    if kind == "a":
        return torch.ones_like(sizes)
    if kind not in _POSITION_GATES:
        raise PromptError(
            f"mask {kind!r} is unknown; use one of {', '.join(POSITION_MASKS)}, an [image] or text"
        )
    column, compare = _POSITION_GATES[kind]
    values = (centers[:, 0], centers[:, 1], sizes)[column]
    return compare(values, cutoff).to(sizes.dtype)


def tv_loss(image: Tensor) -> Tensor:
    """Mean squared horizontal plus vertical neighbour difference, edges replicated (PyTTI TV)."""
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


def sobel_edges(rgb: Tensor) -> Tensor:
    """[2b,1,H,W] horizontal then vertical Sobel/8 edges of the grey image (PyTTI EdgeLoss)."""
    grey = (rgb * rgb.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    dx = rgb.new_tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8
    kernels = torch.stack((dx, dx.T))[:, None]  # [2,1,3,3]: d/dx, d/dy
    edges = F.conv2d(grey, kernels, padding=1)  # [b,2,H,W]
    return torch.cat((edges[:, :1], edges[:, 1:]))
