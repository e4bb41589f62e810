"""Prompt targets: prompts turned into cached embeddings and masks, and the guidance loss.

Per-perceptor data is keyed by the Perceptor object itself, never by a list index.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .cutouts import CutoutAugs, make_cutouts, mask_weights
from .losses import functional as losses
from .prompts import LETTER_MASK_CUTOFF, LETTER_MASKS

IMAGE_PROMPT_CUTOUTS = 32
MASK_LETTERS = {kind: letter for letter, kind in LETTER_MASKS.items()}  # "right" -> "r"


@dataclass
class Target:
    """One prompt ready for the loss: its time values, mask and per-perceptor embeddings."""

    source: str
    weight: object  # TimeValue
    stop: object  # TimeValue
    mask: object  # prompts.Mask
    embeds: dict  # Perceptor -> Tensor[k,d]
    mask_image: torch.Tensor | None = None  # [1,1,H,W] for image masks
    mask_norm: torch.Tensor | None = None  # sqrt(mean of the mask), computed once
    mask_embeds: dict | None = None  # Perceptor -> Tensor[1,d] for semantic masks


def to_tensor(array: np.ndarray, device) -> torch.Tensor:
    """An HxWx3 (or HxW) float array as a [1,3,H,W] (or [1,1,H,W]) tensor on `device`."""
    t = torch.from_numpy(array)
    t = t.permute(2, 0, 1) if t.ndim == 3 else t[None]
    return t[None].to(device)


def mask_tensor(mask, assets, device) -> torch.Tensor:
    """An image or video mask ([file] or [-file]) as a [1,1,H,W] tensor in [0,1] at the render
    size; a video mask's first frame (its frames follow the animation: refresh_video_mask)."""
    m = to_tensor(assets.gray[mask.path], device)
    return 1 - m if mask.inverted else m


@torch.no_grad()
def embed_image(perceptor, image, seed) -> torch.Tensor:
    """A [1,d] embedding of an image: the normalised mean over seeded cutouts of it."""
    gen = torch.Generator(device=image.device).manual_seed(seed)
    cuts = make_cutouts(
        image,
        IMAGE_PROMPT_CUTOUTS,
        perceptor.input_size,
        cut_pow=1.0,
        border=0.0,
        border_mode="clamp",
        augs=CutoutAugs(noise=0.0),
        generator=gen,
    )
    emb = perceptor.encode_image(cuts.images).mean(0, keepdim=True)
    return torch.nn.functional.normalize(emb, dim=-1)


def build_target(prompt, perceptors, assets, device, seed) -> Target:
    """Embed one parsed prompt (text or image) and its mask for every perceptor."""
    if prompt.image:
        img = to_tensor(assets.rgb[prompt.image], device)
        embeds = {p: embed_image(p, img, seed) for p in perceptors}
    else:
        embeds = {p: p.encode_text([prompt.text]) for p in perceptors}
    target = Target(prompt.source, prompt.weight, prompt.stop, prompt.mask, embeds)
    return with_mask(target, perceptors, assets, device)


def with_mask(target, perceptors, assets, device) -> Target:
    """The target with what its mask needs loaded: the mask image, or the mask text embedded."""
    if target.mask.kind in ("image", "video"):
        _set_mask_image(target, mask_tensor(target.mask, assets, device))
    elif target.mask.kind == "semantic":
        target.mask_embeds = {p: p.encode_text([target.mask.text]) for p in perceptors}
    return target


def _set_mask_image(target, mask) -> None:
    """A target's mask image and its normaliser sqrt(mean), computed once (no sync)."""
    target.mask_image = mask
    target.mask_norm = mask.mean().clamp_min(1e-6).sqrt()


def refresh_video_mask(target, refs) -> None:
    """At a frame start, a target with a video mask takes that frame's mask image."""
    if target.mask.kind == "video":
        _set_mask_image(target, refs.mask(target.mask))


def cutout_weights(target, perceptor, emb, cuts, ctx):
    """Per-cutout weights [n] from the prompt's mask, or None for 'all'."""
    kind = target.mask.kind
    if kind == "all":
        return None
    cutoff = ctx.value(target.mask.cutoff) if target.mask.cutoff is not None else None
    if kind in ("image", "video"):
        # PyTTI divides by sqrt(mean mask) so small masks are not starved of gradient.
        return mask_weights(target.mask_image, cuts) / target.mask_norm
    if kind == "semantic":
        return losses.semantic_mask_weights(emb, target.mask_embeds[perceptor], cutoff)
    return losses.position_mask_weights(
        cuts.centers,
        cuts.sizes,
        MASK_LETTERS[kind],
        LETTER_MASK_CUTOFF if cutoff is None else cutoff,
    )


def guidance_loss(targets, perceptor, emb, cuts, ctx):
    """Summed prompt loss of one perceptor's cutout embeddings [n,d] against every target."""
    total = emb.new_zeros(())
    for target in targets:
        w = ctx.value(target.weight)
        if w == 0:
            continue
        weights = cutout_weights(target, perceptor, emb, cuts, ctx)
        stop = ctx.value(target.stop)
        total = total + losses.prompt_loss(emb, target.embeds[perceptor], w, stop, weights)
    return total
