"""Prompt targets: prompts turned into cached embeddings and masks, and the guidance loss."""

from dataclasses import dataclass

import torch

from . import losses
from .cutouts import CutoutAugs, make_cutouts, mask_weights
from .images import load_gray, load_rgb
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
    embeds: list  # per perceptor: Tensor[k,d]
    mask_image: torch.Tensor | None = None  # [1,1,H,W] for image masks
    mask_norm: torch.Tensor | None = None  # sqrt(mean of the mask), computed once
    mask_embeds: list | None = None  # per perceptor: Tensor[1,d] for semantic masks


def image_to_tensor(path, size, device) -> torch.Tensor:
    """An image file as a [1,3,H,W] tensor in [0,1], resized to size=(width, height)."""
    array = load_rgb(path, size)
    return torch.from_numpy(array).permute(2, 0, 1)[None].to(device)


def mask_to_tensor(path, inverted, size, device) -> torch.Tensor:
    """A mask image as a [1,1,H,W] tensor in [0,1], inverted when asked."""
    m = torch.from_numpy(load_gray(path, size))[None, None].to(device)
    return 1 - m if inverted else m


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


def build_target(prompt, perceptors, size, device, seed) -> Target:
    """Embed one parsed prompt (text or image) and its mask for every perceptor."""
    if prompt.image:
        img = image_to_tensor(prompt.image, size, device)
        embeds = [embed_image(p, img, seed) for p in perceptors]
    else:
        embeds = [p.encode_text([prompt.text]) for p in perceptors]
    target = Target(prompt.source, prompt.weight, prompt.stop, prompt.mask, embeds)
    if prompt.mask.kind == "image":
        target.mask_image = mask_to_tensor(prompt.mask.path, prompt.mask.inverted, size, device)
        target.mask_norm = target.mask_image.mean().clamp_min(1e-6).sqrt()
    elif prompt.mask.kind == "semantic":
        target.mask_embeds = [p.encode_text([prompt.mask.text]) for p in perceptors]
    return target


def cutout_weights(target, j, emb, cuts, t, frame):
    """Per-cutout weights [n] from the prompt's mask, or None for 'all'."""
    kind = target.mask.kind
    if kind == "all":
        return None
    cutoff = target.mask.cutoff(t, frame) if target.mask.cutoff is not None else None
    if kind == "image":
        # PyTTI divides by sqrt(mean mask) so small masks are not starved of gradient.
        return mask_weights(target.mask_image, cuts) / target.mask_norm
    if kind == "semantic":
        return losses.semantic_mask_weights(emb, target.mask_embeds[j], cutoff)
    return losses.position_mask_weights(
        cuts.centers,
        cuts.sizes,
        MASK_LETTERS[kind],
        LETTER_MASK_CUTOFF if cutoff is None else cutoff,
    )


def guidance_loss(targets, j, emb, cuts, t, frame):
    """Summed prompt loss of one perceptor's cutout embeddings [n,d] against every target."""
    total = emb.new_zeros(())
    for target in targets:
        w = target.weight(t, frame)
        if w == 0:
            continue
        weights = cutout_weights(target, j, emb, cuts, t, frame)
        total = total + losses.prompt_loss(emb, target.embeds[j], w, target.stop(t, frame), weights)
    return total
