"""The animators of the animation modes, and which one a plan gets.

CameraAnimator       2D: PyTTI's affine; 3D: a pinhole or PyTTI's camera over estimated depth
VideoSourceAnimator  the source video's optical flow (animation/video_source.py)
"""

import torch
import torch.nn.functional as F

from ..errors import SettingsError
from . import three_d, two_d
from .base import Animator, FrameRefs
from .flow import consistency_mask
from .motion import checked, evaluate, focal_length, relative_depth_problems
from .video_source import VideoSourceAnimator
from .warp import Warp


class CameraAnimator(Animator):
    """Moves the image between frames: PyTTI's 2D affine, or a 3D camera over estimated depth."""

    def __init__(self, run_plan, device, depth_model=None, flow_model=None, assets=None):
        super().__init__(run_plan, device, assets)
        self.depth_model, self.flow_model = depth_model, flow_model
        self._check_depth_range(run_plan)

    def _check_depth_range(self, run_plan) -> None:
        """SettingsError where 3D motion reads r, R or mu and the loaded depth model turns out
        relative (validation cannot know it of a hub model not yet downloaded; a live edit's
        validation can, the model being loaded by then)."""
        s = run_plan.settings
        model = self.depth_model
        if s.animation_mode == "3D" and model is not None and not model.metric:
            problems = relative_depth_problems(s, run_plan.motion)
            if problems:
                raise SettingsError(problems)

    def move(self, image_model, optimizer, ctx, timer, media) -> FrameRefs:
        """Warp by the frame's motion; the moved (colour-matched) image is the stabilisation
        reference."""
        s = self.run_plan.settings
        flow = None
        if s.animation_mode == "2D":
            self.values = checked(evaluate(self.run_plan.motion, ctx), ctx.frame)
            warp = Warp(
                sampling=s.sampling_mode,
                infill=s.infill_mode,
                affine=two_d.affine(self.values, image_model.width, image_model.height),
            )
        else:
            warp, flow = self._camera_warp(image_model, ctx, timer)
        before = image_model.decode().detach().clamp(0, 1) if self._wants_flow() else None
        self._warp(image_model, warp, optimizer, timer)
        reference = self._moved(image_model)
        flow_targets = []
        if before is not None:
            with timer("frame_flow"):
                flow_targets = [(reference, self._camera_agreement(before, reference, flow))]
        return FrameRefs(reference, flow_targets=flow_targets, camera_flow=flow)

    def _wants_flow(self) -> bool:
        """3D flow stabilisation needs the frames' optical flow."""
        return self.run_plan.settings.animation_mode == "3D" and self.flow_model is not None

    def _camera_warp(self, image_model, ctx, timer):
        """The 3D warp and its forward flow: depth of the current image, moved camera."""
        s = self.run_plan.settings
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
        moves = checked(evaluate(self.run_plan.motion, ctx, depths), ctx.frame)
        self.values = {**moves, **depths}
        flow = three_d.forward_flow(
            depth, self.values, s.field_of_view, out_size, s.lock_camera, s.camera
        )
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


def build_animator(run_plan, device, depth_model=None, flow_model=None, assets=None):
    """The animator of a plan's animation mode (None when it renders a still image); `assets`
    holds a color_coherence image."""
    mode = run_plan.settings.animation_mode
    if mode == "off":
        return None
    if mode == "Video Source":
        return VideoSourceAnimator(run_plan, device, flow_model, assets)
    return CameraAnimator(run_plan, device, depth_model, flow_model, assets)
