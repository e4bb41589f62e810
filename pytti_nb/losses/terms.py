"""Loss terms: the named parts of the objective that the engine sums every step.

Two kinds, by what they look at:
    ImageTerm.loss(image, ctx)                   the decoded image [1,3,H,W], once per step
    CutoutTerm.loss(perceptor, emb, cuts, ctx)   one perceptor's cutout embeddings, once per
                                                 micro-batch (prompts and other CLIP targets)
`loss` returns None when the term is off at that step. Once per animation frame every term's
`on_frame(refs, ctx)` receives the frame's references (the warped previous image and what is
derived from it); `state_dict()` holds what a resumed run needs to continue exactly.
"""

from torch import Tensor

from ..perception.targets import guidance_loss, refresh_video_mask
from . import functional as F
from .latent import latent_loss

MASK_OFF_BELOW = 0.001  # a direct target whose mask is this empty is off (PyTTI)


class LossTerm:
    """A named part of the objective."""

    name: str = ""

    def on_frame(self, refs, ctx) -> None:
        """Take this animation frame's references; called once per frame, before its steps."""

    def state_dict(self) -> dict:
        """What a resumed run needs to continue this term exactly (empty for most)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict()."""


class ImageTerm(LossTerm):
    """A loss on the decoded image."""

    def loss(self, image: Tensor, ctx) -> Tensor | None:
        """The weighted loss at this step, or None when off."""
        raise NotImplementedError


class CutoutTerm(LossTerm):
    """A loss on one perceptor's embeddings of one micro-batch of cutouts."""

    def loss(self, perceptor, emb: Tensor, cuts, ctx) -> Tensor | None:
        """The weighted loss of these cutouts at this step, or None when off."""
        raise NotImplementedError


class Smoothing(ImageTerm):
    """Total-variation smoothing; a negative weight sharpens (PyTTI TVLoss)."""

    name = "smoothing"

    def __init__(self, weight, wrap: bool = False):
        self.weight, self.wrap = weight, wrap  # wrap: a seamless image, whose seams count too

    def loss(self, image, ctx):
        """Weight times the TV loss."""
        w = ctx.value(self.weight)
        return None if w == 0 else w * F.tv_loss(image, self.wrap)


class DirectTarget(ImageTerm):
    """HSV pixel loss toward a fixed image, with PyTTI's weight, stop and optional mask; or,
    given the target's latent and the image model, PyTTI's LatentLoss (VQGAN, direct_loss:
    pytti)."""

    def __init__(
        self,
        name,
        target,
        weight,
        stop,
        mask=None,
        *,
        video_mask=None,
        until_animation=False,
        latent=None,
        image_model=None,
    ):
        self.name, self.target, self.weight, self.stop = name, target, weight, stop
        self.video_mask = video_mask  # the prompts.Mask of a video mask, whose frames follow
        self.until_animation = until_animation  # init targets only shape the first image
        self.latent, self.image_model = latent, image_model  # the target's codes, computed once
        self._set_mask(mask)

    def _set_mask(self, mask):
        """A (new) mask; PyTTI turns a target off whose mask is nearly empty (one sync)."""
        self.mask = mask
        self.empty = mask is not None and float(mask.mean()) < MASK_OFF_BELOW

    def on_frame(self, refs, ctx):
        """A video mask moves on to the frame's mask image."""
        if self.video_mask is not None:
            self._set_mask(refs.mask(self.video_mask))

    def loss(self, image, ctx):
        """Stopped, weighted HSV MSE to the target (masked after the HSV conversion), or
        PyTTI's LatentLoss when the term has the target's latent."""
        if self.empty or (self.until_animation and ctx.animating):
            return None
        w = ctx.value(self.weight)
        if w == 0:
            return None
        if self.latent is None:
            raw = F.hsv_mse(image, self.target, self.mask)
        else:
            raw = latent_loss(image, self.target, self.image_model.latent(), self.latent, self.mask)
        return F.stopped(raw, w, ctx.value(self.stop))


class ScenePrompts(CutoutTerm):
    """Every scene's prompts; the previous scene blends out over interpolation_steps."""

    name = "prompts"

    def __init__(self, scenes):
        self.scenes = scenes  # per scene, a list of targets.Target

    def on_frame(self, refs, ctx):
        """Prompts with video masks take the frame's mask images."""
        for targets in self.scenes:
            for target in targets:
                refresh_video_mask(target, refs)

    def loss(self, perceptor, emb, cuts, ctx):
        """Blend of the current and the previous scene's guidance losses."""
        total = None
        for index in (ctx.scene - 1, ctx.scene):
            share = ctx.in_scene(index) if index >= 0 else 0.0
            if share:
                part = share * guidance_loss(self.scenes[index], perceptor, emb, cuts, ctx)
                total = part if total is None else total + part
        return total


class SemanticInit(CutoutTerm):
    """CLIP loss toward the init image, part of the first scene until the animation starts."""

    name = "semantic_init"

    def __init__(self, target):
        self.target = target  # targets.Target of the init image

    def on_frame(self, refs, ctx):
        """A video mask takes the frame's mask image."""
        refresh_video_mask(self.target, refs)

    def loss(self, perceptor, emb, cuts, ctx):
        """The init image's guidance loss, scaled by how much of scene 1 is active."""
        share = 0.0 if ctx.animating else ctx.in_scene(0)
        if not share:
            return None
        return share * guidance_loss([self.target], perceptor, emb, cuts, ctx)
