"""Stabilisation: losses that keep each animation frame close to the warped previous one.

Each term's reference is computed once per frame (on_frame) and kept in the checkpoint, so a
resumed run compares against exactly the reference it had. Before the first frame the
reference is the init image when there is one, as in PyTTI; otherwise the term waits.
"""

import torch

from ..lang.prompts import MaskKind
from ..perception.targets import guidance_loss, refresh_video_mask
from . import functional as F
from .latent import latent_loss, latent_mse
from .target_flow import target_flow_scale
from .terms import CutoutTerm, ImageTerm


class PixelStabilization(ImageTerm):
    """A loss toward a per-frame reference derived from the warped previous frame."""

    def __init__(self, name, weight, mask=None, reference=None):
        self.name, self.weight, self.mask = name, weight, mask  # weight: prompts.TargetWeight
        self.reference = None if reference is None else self.prepare(reference)

    def prepare(self, image):
        """What this term compares, computed from a reference image (once per frame)."""
        raise NotImplementedError

    def measure(self, image):
        """The same quantity of the image being optimised (every step, differentiable)."""
        raise NotImplementedError

    def on_frame(self, refs, ctx):
        """Take the new frame's reference (and its mask image, for a video mask)."""
        self.reference = self.reference_from(refs)
        if self.weight.mask.kind is MaskKind.VIDEO:
            self.mask = refs.mask(self.weight.mask)

    def reference_from(self, refs):
        """The reference of a frame's FrameRefs."""
        return self.prepare(refs.image)

    def loss(self, image, ctx):
        """Stopped, weighted, masked MSE between measure(image) and the reference."""
        if self.reference is None:
            return None
        w = ctx.value(self.weight.weight)
        if w == 0:
            return None
        return F.stopped(self.distance(image), w, ctx.value(self.weight.stop))

    def distance(self, image):
        """Masked MSE between measure(image) and the reference."""
        return F.masked_mse(self.measure(image), self.reference, self.mask)

    def state_dict(self):
        """The current reference."""
        return {} if self.reference is None else {"reference": self.reference}

    def load_state_dict(self, state):
        """Restore the reference."""
        self.reference = state.get("reference")


class DirectStabilization(PixelStabilization):
    """HSV pixel loss to the warped previous frame (PyTTI's direct stabilisation)."""

    @torch.no_grad()
    def prepare(self, image):
        """[R,G,B,S,V] of the reference."""
        return F.hsv(image)

    def measure(self, image):
        """[R,G,B,S,V] of the image."""
        return F.hsv(image)


class LatentStabilization(PixelStabilization):
    """PyTTI's LatentLoss to the warped previous frame (VQGAN, direct_loss: pytti): its codes,
    encoded once per frame, and its pixels (LatentLossClass.py 63-71)."""

    def __init__(self, name, weight, image_model, mask=None, reference=None):
        self.image_model = image_model
        super().__init__(name, weight, mask, reference)

    @torch.no_grad()
    def prepare(self, image):
        """The reference's pixels and codes (PyTTI's make_latent)."""
        return {"rgb": image, "latent": self.image_model.latent_target(image)}

    def distance(self, image):
        """LatentLoss between the image (and its codes) and the reference."""
        ref = self.reference
        return latent_loss(image, ref["rgb"], self.image_model.latent(), ref["latent"], self.mask)


class EdgeStabilization(PixelStabilization):
    """Loss between Sobel edges of the image and of the warped previous frame (cheap); `wrap`
    (a seamless image) reads the edges across the seams."""

    def __init__(self, name, weight, mask=None, reference=None, wrap: bool = False):
        self.wrap = wrap  # before the base class prepares the reference with it
        super().__init__(name, weight, mask, reference)

    @torch.no_grad()
    def prepare(self, image):
        """Edges of the reference."""
        return F.sobel_edges(image, self.wrap)

    def reference_from(self, refs):
        """The frame's edges, computed once for every term that needs them (the frame's shared
        ones are zero-padded: a seamless image's are computed here, once per frame)."""
        return self.prepare(refs.image) if self.wrap else refs.edges()

    def measure(self, image):
        """Edges of the image."""
        return F.sobel_edges(image, self.wrap)


class DepthStabilization(PixelStabilization):
    """Loss between depth maps (metres) of the image and of the warped previous frame.

    The depth model runs forward and backward on the image every step: the costly term.
    """

    def __init__(self, name, weight, depth_model, mask=None, reference=None):
        self.depth_model = depth_model
        super().__init__(name, weight, mask, reference)

    @torch.no_grad()
    def prepare(self, image):
        """Depth of the reference in metres."""
        return self.depth_model.metres(image)

    def measure(self, image):
        """Depth of the image in metres, differentiable."""
        return self.depth_model.metres(image)


class FlowStabilization(ImageTerm):
    """Pixel loss to the previous output moved along the flow, where the flow is reliable.

    Video Source: one target per long-term sample, the previous outputs moved by the source
    video's flow; 3D: the moved previous frame where the optical flow agrees with the
    camera's. Both are set once per frame; each target is weighted and stopped as PyTTI's.
    Given the image model (direct_loss: pytti), a Video Source target adds the model's
    latent_strength times the latent MSE to the moved previous latent (PyTTI's
    OpticalFlowLoss); with pytti_3d, a 3D target's MSE is scaled each frame into PyTTI's
    TargetFlowLoss (losses/target_flow.py).
    """

    name = "stabilization_flow"

    def __init__(self, weight, mask=None, *, image_model=None, pytti_3d=False):
        self.weight, self.mask = weight, mask  # weight: prompts.TargetWeight
        self.image_model, self.pytti_3d = image_model, pytti_3d
        self.targets = []  # [(target image, reliability mask)], from the frame's references
        self.latents = []  # per target, the moved previous latent (Video Source, pytti)
        self.scales = []  # per target, the factor to PyTTI's TargetFlowLoss (3D)

    def on_frame(self, refs, ctx):
        """Take this frame's flow targets (and its mask image, for a video mask); in 3D, each
        target's factor to PyTTI's TargetFlowLoss, computed whatever the mode, once."""
        self.targets = list(refs.flow_targets)
        self.latents = list(refs.flow_latents) if self.image_model is not None else []
        if self.weight.mask.kind is MaskKind.VIDEO:
            self.mask = refs.mask(self.weight.mask)
        self.scales = []
        if refs.camera_flow is not None:
            self.scales = [
                target_flow_scale(target, reliable, refs.camera_flow, self.mask)
                for target, reliable in self.targets
            ]

    def loss(self, image, ctx):
        """Sum over the targets of the stopped, weighted, masked MSE."""
        if not self.targets:
            return None
        w = ctx.value(self.weight.weight)
        if w == 0:
            return None
        stop = ctx.value(self.weight.stop)
        latent = self.image_model.latent() if any(x is not None for x in self.latents) else None
        total = None
        for k, (target, reliable) in enumerate(self.targets):
            mask = reliable if self.mask is None else reliable * self.mask
            raw = F.masked_mse(image, target, mask)
            if latent is not None and self.latents[k] is not None:
                strength = self.image_model.latent_strength
                raw = raw + strength * latent_mse(latent, self.latents[k], mask)
            if self.pytti_3d and self.scales:
                raw = raw * self.scales[k]
            part = F.stopped(raw, w, stop)
            total = part if total is None else total + part
        return total

    def state_dict(self):
        """The frame's targets and masks, latents and factors."""
        if not self.targets:
            return {}
        state = {"targets": [list(pair) for pair in self.targets]}
        if self.latents:
            state["latents"] = list(self.latents)
        if self.scales:
            state["scales"] = list(self.scales)
        return state

    def load_state_dict(self, state):
        """Restore the targets."""
        self.targets = [tuple(pair) for pair in state.get("targets", [])]
        self.latents = list(state.get("latents", [])) if self.image_model is not None else []
        self.scales = list(state.get("scales", []))


class SemanticStabilization(CutoutTerm):
    """CLIP loss toward the warped previous frame, part of every scene (PyTTI)."""

    name = "semantic_stabilization"

    def __init__(self, target, perceptors, embedder, references=None):
        self.target = target  # targets.Target: weight, stop and mask; its views set per frame
        self.perceptors, self.embedder = perceptors, embedder
        self.active = references is not None
        if references is not None:
            self.target.see(references)

    def on_frame(self, refs, ctx):
        """See the new frame's reference with every perceptor."""
        self.target.see({p: refs.embedding(p, self.embedder) for p in self.perceptors})
        refresh_video_mask(self.target, refs)
        self.active = True

    def loss(self, perceptor, emb, cuts, ctx):
        """The reference's guidance loss."""
        if not self.active:
            return None
        return guidance_loss([self.target], perceptor, emb, cuts, ctx)

    def state_dict(self):
        """The reference's embeddings and cutout centres, by perceptor position."""
        if not self.active:
            return {}
        state = {"embeds": {str(i): self.target.embeds[p] for i, p in enumerate(self.perceptors)}}
        if self.target.centres:
            state["centres"] = {
                str(i): self.target.centres[p] for i, p in enumerate(self.perceptors)
            }
        return state

    def load_state_dict(self, state):
        """Restore the reference's embeddings and centres."""
        embeds, centres = state.get("embeds"), state.get("centres", {})
        self.active = bool(embeds)  # saved empty: no reference yet
        if embeds:
            self.target.see(
                {p: (embeds[str(i)], centres.get(str(i))) for i, p in enumerate(self.perceptors)}
            )
