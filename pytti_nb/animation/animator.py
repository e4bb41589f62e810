"""Animators: at every frame start, move the image into the new frame (on the device) and hand
the loss terms the frame's references, each computed at most once per frame.

    CameraAnimator       2D: PyTTI's affine; 3D: a pinhole camera over estimated depth
    VideoSourceAnimator  the source video's optical flow (animation/video_source.py)
"""

import torch
import torch.nn.functional as F

from ..engine.timing import no_timer
from ..losses.functional import sobel_edges
from ..perception.targets import to_tensor
from . import three_d, two_d
from .flow import consistency_mask
from .motion import checked, evaluate, focal_length
from .warp import Warp


class FrameRefs:
    """One animation frame's references, computed once, when a loss term first asks."""

    def __init__(self, image, *, flow_targets=(), masks=None):
        self.image = image  # [1,3,H,W] what the stabilisation losses compare the frame with
        self.flow_targets = list(flow_targets)  # [(target [1,3,H,W], reliability [1,1,H,W])]
        self._masks = masks  # the run's MaskVideos, or None
        self._frame = None
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
        m = self._once(("mask", mask.path), lambda: self._masks.at(mask.path, self._frame))
        return 1 - m if mask.inverted else m


class MaskVideos:
    """The video masks of a run: each frame's mask image, read in order from its video."""

    def __init__(self, run_plan, device):
        from ..media.video import VideoReader

        self.plan, self.device = run_plan, device
        size = run_plan.output_size
        self.readers = {
            path: VideoReader(path, info.fps, size) for path, info in run_plan.mask_videos.items()
        }

    def at(self, path, frame: int):
        """The mask of `path` for animation frame `frame`, grey in [0,1] [1,1,H,W]."""
        rgb = self.readers[path].frame(self.plan.mask_frame(frame)).astype("float32") / 255
        return to_tensor(rgb.mean(axis=2), self.device)


class Animator:
    """What every animator shares: the plan in force, video masks, notes and frame values."""

    def __init__(self, run_plan, device):
        self.plan, self.device = run_plan, device
        self.masks = MaskVideos(run_plan, device) if run_plan.mask_videos else None
        self.values = {}  # what made the current frame: motion values, depth range, ...
        self.notes = []  # how the animation had to be carried out, for the run's report

    def steer(self, run_plan) -> None:
        """Follow a live edit: new motion values from the next frame on."""
        self.plan = run_plan

    @torch.no_grad()
    def begin_frame(self, image_model, optimizer, ctx, timer=no_timer) -> FrameRefs:
        """Move the image (and its optimiser moments) into the new frame; its references."""
        refs = self.move(image_model, optimizer, ctx, timer)
        refs._masks, refs._frame = self.masks, ctx.frame
        return refs

    def move(self, image_model, optimizer, ctx, timer) -> FrameRefs:
        """The mode's own frame change."""
        raise NotImplementedError

    def _warp(self, image_model, warp, optimizer, timer):
        """Warp the image model, noting once when it can only decode, warp and encode."""
        with timer("frame_warp"):
            moved_parameters = image_model.warp(warp, optimizer)
        if not moved_parameters and not self.notes:
            self.notes.append(
                f"{type(image_model).__name__} cannot warp its parameters: every frame is "
                "decoded, warped and encoded again, and its optimiser moments restart"
            )

    def state_dict(self) -> dict:
        """The current frame's values (they go into every saved image's metadata)."""
        return {
            "values": {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()}
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        values = state.get("values", {})
        self.values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


class CameraAnimator(Animator):
    """Moves the image between frames: PyTTI's 2D affine, or a 3D camera over estimated depth."""

    def __init__(self, run_plan, device, depth_model=None, flow_model=None):
        super().__init__(run_plan, device)
        self.depth_model, self.flow_model = depth_model, flow_model

    def move(self, image_model, optimizer, ctx, timer) -> FrameRefs:
        """Warp by the frame's motion; the moved image is the stabilisation reference."""
        s = self.plan.settings
        flow = None
        if s.animation_mode == "2D":
            self.values = checked(evaluate(self.plan.motion, ctx), ctx.frame)
            warp = Warp(
                sampling=s.sampling_mode,
                infill=s.infill_mode,
                affine=two_d.affine(self.values, image_model.width, image_model.height),
            )
        else:
            warp, flow = self._camera_warp(image_model, ctx, timer)
        before = image_model.decode().detach().clamp(0, 1) if self._wants_flow() else None
        self._warp(image_model, warp, optimizer, timer)
        reference = image_model.decode().detach().clamp(0, 1)
        flow_targets = []
        if before is not None:
            with timer("frame_flow"):
                flow_targets = [(reference, self._camera_agreement(before, reference, flow))]
        return FrameRefs(reference, flow_targets=flow_targets)

    def _wants_flow(self) -> bool:
        """3D flow stabilisation needs the frames' optical flow."""
        return self.plan.settings.animation_mode == "3D" and self.flow_model is not None

    def _camera_warp(self, image_model, ctx, timer):
        """The 3D warp and its forward flow: depth of the current image, moved camera."""
        s = self.plan.settings
        out_size = image_model.output_size
        grid = (image_model.height, image_model.width)
        if self.depth_model is None:  # depth_model none: a plane at the focal distance
            depth = torch.full((1, 1, *grid), focal_length(out_size[1], s.field_of_view))
            depth = depth.to(self.device)
        else:
            with timer("frame_depth"):
                image = image_model.decode().clamp(0, 1)
                depth = self.depth_model.depth(image, s.near_plane, s.far_plane)
                depth = F.interpolate(depth, size=grid, mode="area")
        depths = three_d.depth_range(depth)
        moves = checked(evaluate(self.plan.motion, ctx, depths), ctx.frame)
        self.values = {**moves, **depths}
        flow = three_d.forward_flow(depth, self.values, s.field_of_view, out_size, s.lock_camera)
        warp = Warp(
            sampling=s.sampling_mode,
            infill=s.infill_mode,
            displacement=three_d.displacement(flow, out_size),
        )
        return warp, flow

    def _camera_agreement(self, before, after, camera_flow):
        """Where the optical flow from the old frame to the moved one is the camera's (3D flow
        stabilisation): there the moved image can be trusted, elsewhere (uncovered edges,
        stretched depth seams) the optimiser is left free. [1,1,H,W] at the output size."""
        # the camera's flow is in output pixels already, sampled on the parameter grid
        camera = F.interpolate(camera_flow[None], size=after.shape[-2:], mode="bilinear")
        forward = self.flow_model(before, after)
        backward = self.flow_model(after, before)
        error = (forward - camera).square().sum(1, keepdim=True)
        agree = error < 0.01 * camera.square().sum(1, keepdim=True) + 0.5  # Ruder's tolerance
        return consistency_mask(forward, backward) * agree


def build_animator(run_plan, device, depth_model=None, flow_model=None):
    """The animator of a plan's animation mode (None when it renders a still image)."""
    mode = run_plan.settings.animation_mode
    if mode == "off":
        return None
    if mode == "Video Source":
        from .video_source import VideoSourceAnimator

        return VideoSourceAnimator(run_plan, device, flow_model)
    return CameraAnimator(run_plan, device, depth_model, flow_model)
