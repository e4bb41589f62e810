"""PyTTI's latent losses (direct_loss: pytti): VQGAN's LatentLoss for direct targets, init and
direct stabilisation, and the latent part of Video Source's flow loss.

pytti-core b5070aa: LossAug/LatentLossClass.py 63-71 (latent MSE / 2 + pixel MSE / 10, both
masked), LossAug/MSELossClass.py 116-125 (the masked MSE, the mask resized to the compared
tensor's grid), LossAug/OpticalFlowLossClass.py 431-435 and 473-476 (flow: pixel MSE plus
latent_strength x latent MSE). A latent is what the image model compares (VQGAN: its quantised
codes [1,e,h,w]; Limited Palette: its levels and palette choices [1,1+P,h,w]); its target is
computed once per frame (or once per run), never per step.
"""

import torch.nn.functional as F
from torch import Tensor

from .functional import masked_mse

LATENT_SHARE = 0.5  # LatentLoss: latent MSE / 2
PIXEL_SHARE = 0.1  # LatentLoss: plain RGB MSE / 10


def mask_on_grid(mask: Tensor | None, like: Tensor) -> Tensor | None:
    """A pixel mask [1,1,H,W] on the grid of `like` [..., h, w], resized as PyTTI's TF.resize
    of a tensor did (bilinear, align_corners=False, no antialiasing)."""
    if mask is None or mask.shape[-2:] == like.shape[-2:]:
        return mask
    return F.interpolate(mask, size=like.shape[-2:], mode="bilinear", align_corners=False)


def latent_mse(latent: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """MSE of a latent and its target, the pixel mask (if any) resized to their grid first."""
    return masked_mse(latent, target, mask_on_grid(mask, latent))


def latent_loss(
    rgb: Tensor, target_rgb: Tensor, latent: Tensor, target_latent: Tensor, mask=None
) -> Tensor:
    """PyTTI's LatentLoss: latent MSE / 2 plus RGB MSE (not HSV) / 10.

    The pixel part takes the mask as given; PyTTI's took it through the latent grid and back
    (its get_loss stores the resized mask with the overridden set_mask, which also resets the
    pixel loss's mask: a bug), so a mask finer than the codes is sharper here.
    """
    pixel = masked_mse(rgb, target_rgb, mask)
    return LATENT_SHARE * latent_mse(latent, target_latent, mask) + PIXEL_SHARE * pixel
