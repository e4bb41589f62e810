"""Prompt targets: prompts turned into cached embeddings and masks, and the guidance loss.

Per-perceptor data is keyed by the Perceptor object itself, never by a list index.

Images (image prompts, the semantic init image, the semantic stabilisation reference) are seen
as PyTTI saw them: cut into the run's own cutouts once, each embedded and its centre kept;
every step each new cutout is compared with the image's cutout at the matching place (a
Hungarian assignment of crop centres), plus PyTTI's offset of 0.7 on the distance. With
image_prompt_matching: mean, an image is instead one mean embedding (no offset).
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from ..lang.prompts import LETTER_MASK_CUTOFF, MaskKind
from ..losses import functional as losses
from .cutouts import CutoutAugs, make_cutouts, mask_weights
from .pytti_masks import box_table, swapped_box_weights, swapped_measures

LOCATION_OFFSET = 0.7  # PyTTI's LocationAwareMCIP adds this to every matched distance
MASK_OFF_BELOW = 0.001  # an image mask this empty turns its prompt off (PyTTI)


@dataclass
class Target:
    """One prompt ready for the loss: its time values, mask and per-perceptor embeddings."""

    source: str
    weight: object  # TimeValue
    stop: object  # TimeValue
    mask: object  # prompts.Mask
    embeds: dict  # Perceptor -> Tensor[k,d]
    mask_image: torch.Tensor | None = None  # [1,1,H,W] for image masks
    mask_norm: torch.Tensor | None = None  # sqrt(mean of the mask); 0 turns the prompt off
    mask_table: torch.Tensor | None = None  # mask_image's summed-area table (PyTTI geometry)
    mask_embeds: dict | None = None  # Perceptor -> Tensor[1,d] for semantic masks
    centres: dict = field(default_factory=dict)  # Perceptor -> [m,2] of an image's cutouts

    def see(self, views: dict) -> None:
        """Take an image's views (Perceptor -> (embeds, centres or None)) as this target's."""
        self.embeds = {p: embeds for p, (embeds, _) in views.items()}
        # on the CPU, where the location matching runs (see match_locations)
        self.centres = {p: c.detach().float().cpu() for p, (_, c) in views.items() if c is not None}


@dataclass(frozen=True)
class ImageEmbedder:
    """How a run sees an image: its cutouts' embeddings and centres, or one mean embedding."""

    matching: str = "location"  # PyTTI's location-aware matching, or "mean"
    cutouts: int = 32
    batch: int = 32  # cutouts embedded at once (the run's micro-batch)
    cut_pow: float = 1.0
    border: float = 0.0
    border_mode: str = "clamp"
    augs: CutoutAugs = CutoutAugs()
    seed: int = 0

    @classmethod
    def of(cls, settings) -> "ImageEmbedder":
        """The embedder of a run: its cutout settings, seed and image_prompt_matching."""
        s = settings
        return cls(
            matching=s.image_prompt_matching,
            cutouts=s.cutouts,
            batch=s.cutouts // s.gradient_accumulation_steps,
            cut_pow=s.cut_pow,
            border=s.cutout_border,
            border_mode=s.border_mode,
            augs=CutoutAugs.of(s),
            seed=s.seed,
        )

    @torch.no_grad()
    def __call__(self, perceptor, image) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(embeddings [m,d], centres [m,2]) of the image's seeded cutouts; mean: ([1,d], None)."""
        gen = torch.Generator(device=image.device).manual_seed(self.seed)
        cuts = make_cutouts(
            image,
            self.cutouts,
            perceptor.input_size,
            cut_pow=self.cut_pow,
            border=self.border,
            border_mode=self.border_mode,
            augs=self.augs,
            generator=gen,
        )
        emb = torch.cat([perceptor.encode_image(x) for x in cuts.images.split(self.batch)])
        if self.matching == "mean":
            return torch.nn.functional.normalize(emb.mean(0, keepdim=True), dim=-1), None
        return emb, cuts.centers


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


def build_target(prompt, perceptors, assets, device, embedder) -> Target:
    """Embed one parsed prompt (text or image) and its mask for every perceptor."""
    target = Target(prompt.source, prompt.weight, prompt.stop, prompt.mask, embeds={})
    if prompt.image:
        img = to_tensor(assets.rgb[prompt.image], device)
        target.see({p: embedder(p, img) for p in perceptors})
    else:
        target.embeds = {p: p.encode_text([prompt.text]) for p in perceptors}
    return with_mask(target, perceptors, assets, device)


def with_mask(target, perceptors, assets, device) -> Target:
    """The target with what its mask needs loaded: the mask image, or the mask text embedded."""
    if target.mask.kind.is_file:
        _set_mask_image(target, mask_tensor(target.mask, assets, device))
    elif target.mask.kind is MaskKind.SEMANTIC:
        target.mask_embeds = {p: p.encode_text([target.mask.text]) for p in perceptors}
    return target


def _set_mask_image(target, mask) -> None:
    """A target's mask image and its normaliser sqrt(mean), computed once (no sync); a mask
    emptier than MASK_OFF_BELOW gets 0, which turns the prompt off (PyTTI)."""
    target.mask_image, target.mask_table = mask, None  # the table is made when first needed
    mean = mask.mean()
    target.mask_norm = torch.where(mean < MASK_OFF_BELOW, 0.0, mean.clamp_min(1e-6).sqrt())


def refresh_video_mask(target, refs) -> None:
    """At a frame start, a target with a video mask takes that frame's mask image."""
    if target.mask.kind is MaskKind.VIDEO:
        _set_mask_image(target, refs.mask(target.mask))


def mask_of(target, perceptor, emb, cuts, ctx):
    """PyTTI's (stops, weights) per cutout [n] for the prompt's mask; None where it has none."""
    kind = target.mask.kind
    if kind is MaskKind.ALL:
        return None, None
    cutoff = ctx.value(target.mask.cutoff) if target.mask.cutoff is not None else None
    # PyTTI's letter and image masks read the cutouts' geometry swapped (pytti_masks); its
    # video masks did not
    pytti = cuts.mask_geometry == "pytti" and kind is not MaskKind.VIDEO
    if kind.is_file:
        if pytti:
            if target.mask_table is None:  # once per mask image
                target.mask_table = box_table(target.mask_image)
            weights = swapped_box_weights(target.mask_table, cuts)
        else:
            weights = mask_weights(target.mask_image, cuts)
        # PyTTI divides by sqrt(mean mask) so small masks are not starved of gradient
        norm = target.mask_norm
        return None, torch.where(norm > 0, weights / norm.clamp_min(1e-6), 0.0)
    if kind is MaskKind.SEMANTIC:
        return losses.semantic_mask_stops(emb, target.mask_embeds[perceptor], cutoff), None
    cutoff = LETTER_MASK_CUTOFF if cutoff is None else cutoff
    centers, sizes = swapped_measures(cuts) if pytti else (cuts.centers, cuts.sizes)
    return losses.position_mask_stops(centers, sizes, kind, cutoff), None


def distances(target, perceptor, emb, cuts):
    """The cutouts' distances [n,k] to the target; an image's by location (PyTTI, +0.7)."""
    ref = target.embeds[perceptor]
    if perceptor not in target.centres:
        return losses.spherical_dist(emb, ref)
    index = match_locations(cuts.centers_on_cpu(), target.centres[perceptor])
    return losses.matched_dist(emb, ref, index.to(emb.device)) + LOCATION_OFFSET


def match_locations(centres: torch.Tensor, ref_centres: torch.Tensor) -> torch.Tensor:
    """For each cutout centre [n,2], the reference cutout [m,2] it is assigned to: the
    assignment of least total centre distance (Hungarian, scipy), as PyTTI matched them.

    Runs on the CPU (at most cutouts x cutouts): the batch's centres are copied there once
    (Cutouts.centers_on_cpu), whatever the number of image targets and perceptors; that copy
    is the only device sync, taken only by runs with image prompts or semantic init/stabilisation.
    """
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(centres.float().cpu(), ref_centres.float().cpu()).numpy()
    rows, cols = linear_sum_assignment(cost)
    index = np.empty(len(centres), dtype=np.int64)
    index[rows] = cols
    if len(rows) < len(centres):  # more cutouts than references: the rest take the nearest
        rest = np.setdiff1d(np.arange(len(centres)), rows)
        index[rest] = cost[rest].argmin(1)
    return torch.from_numpy(index)


def guidance_loss(targets, perceptor, emb, cuts, ctx):
    """Summed prompt loss of one perceptor's cutout embeddings [n,d] against every target."""
    total = emb.new_zeros(())
    for target in targets:
        w = ctx.value(target.weight)
        if w == 0:
            continue
        stops, weights = mask_of(target, perceptor, emb, cuts, ctx)
        dist = distances(target, perceptor, emb, cuts)
        total = total + losses.prompt_loss(dist, w, ctx.value(target.stop), stops, weights)
    return total
