"""What every animator shares: the frame's references (FrameRefs) and the Animator base.

At every frame start an animator moves the image into the new frame (on the device) and hands
the loss terms the frame's references, each computed at most once per frame.
"""

import dataclasses

import torch

from ..losses.functional import sobel_edges
from ..perception.targets import to_tensor
from ..timing import no_timer
from .colour import colour_coherence


class FrameRefs:
    """One animation frame's references, computed once, when a loss term first asks."""

    def __init__(self, image, *, flow_targets=(), flow_latents=(), camera_flow=None):
        self.image = image  # [1,3,H,W] what the stabilisation losses compare the frame with
        self.flow_targets = list(flow_targets)  # [(target [1,3,H,W], reliability [1,1,H,W])]
        # per flow target, the moved previous latent (Video Source under direct_loss pytti)
        self.flow_latents = list(flow_latents)
        self.camera_flow = camera_flow  # 3D: the camera's forward flow [2,h,w], output pixels
        self._masks = {}  # video mask path -> this frame's mask, HxW float32 (engine.frames)
        self._cache = {}

    def _once(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @torch.no_grad()
    def edges(self):
        """Sobel edges of the reference image [2,1,H,W]."""
        return self._once("edges", lambda: sobel_edges(self.image))

    @torch.no_grad()
    def embedding(self, perceptor, embedder):
        """How one perceptor sees the reference image (targets.ImageEmbedder's views)."""
        return self._once(("embedding", id(perceptor)), lambda: embedder(perceptor, self.image))

    def mask(self, mask):
        """This frame's image of a video mask (a prompts.Mask), [1,1,H,W] in [0,1]."""
        device = self.image.device
        m = self._once(("mask", mask.path), lambda: to_tensor(self._masks[mask.path], device))
        return 1 - m if mask.inverted else m


def plain_values(values: dict) -> dict:
    """Animator values with tuples (rotate_3d) as lists: a checkpoint's and JSON's types."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def tuple_values(values: dict) -> dict:
    """plain_values() undone."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


class Animator:
    """What every animator shares: the plan in force, notes and the frame's values."""

    def __init__(self, run_plan, device, assets=None):
        self.run_plan, self.device = run_plan, device
        self.values = {}  # what made the current frame: motion values, depth range, ...
        self.notes = []  # how the animation had to be carried out, for the run's report
        # color_coherence (None when off); an image anchor is read from the run's assets
        self.colour = colour_coherence(run_plan.settings, device, assets)
        self.last_warp = None  # the warp of the last frame change (cadence warps back by it)

    def steer(self, run_plan) -> None:
        """Follow a live edit: new motion values from the next frame on."""
        self.run_plan = run_plan

    @torch.no_grad()
    def begin_frame(self, image_model, optimizer, ctx, timer=no_timer, media=None) -> FrameRefs:
        """Move the image (and its optimiser moments) into the new frame; its references.

        `media` is the frame's decoded video frames and masks (engine.frames.FrameMedia), read
        ahead of the loop; None for a run without per-frame media. Under color_coherence the
        moved image is colour-matched before it becomes the frame's references."""
        if self.colour is not None:
            self.colour.start_frame(image_model, ctx)
        refs = self.move(image_model, optimizer, ctx, timer, media)
        refs._masks = media.masks if media is not None else {}
        return refs

    def move(self, image_model, optimizer, ctx, timer, media) -> FrameRefs:
        """The mode's own frame change."""
        raise NotImplementedError

    def _warp(self, image_model, warp, optimizer, timer):
        """Warp the image model, noting once when it can only decode, warp and encode."""
        if self.run_plan.settings.seamless:  # a seamless image wraps in 2D, 3D and Video Source
            warp = dataclasses.replace(warp, infill="wrap")
        self.last_warp = warp
        with timer("frame_warp"):
            moved_parameters = image_model.warp(warp, optimizer)
        if not moved_parameters and not self.notes:
            self.notes.append(
                f"{type(image_model).__name__} cannot warp its parameters: every frame is "
                "decoded, warped and encoded again, and its optimiser moments restart"
            )

    def _moved(self, image_model):
        """The image right after the frame's warp, detached in [0,1]: colour-matched first
        (the image model set to it) under color_coherence."""
        if self.colour is None:
            return image_model.decode().detach().clamp(0, 1)
        return self.colour.apply(image_model)

    def state_dict(self) -> dict:
        """The current frame's values and the colour anchor (they go into the checkpoint)."""
        state = {"values": plain_values(self.values)}
        if self.colour is not None:
            state["colour"] = self.colour.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.values = tuple_values(state.get("values", {}))
        if self.colour is not None:
            self.colour.load_state_dict(state.get("colour", {}))
