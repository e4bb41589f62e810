"""The animator: at every frame start, warp the image by the camera motion (on the device) and
hand the loss terms the new frame's references, each computed at most once per frame."""

import torch
import torch.nn.functional as F

from ..losses.functional import sobel_edges
from ..targets import embed_image
from ..timing import no_timer
from . import three_d, two_d
from .motion import evaluate, focal_length
from .warp import Warp


class FrameRefs:
    """One animation frame's references, computed once, when a loss term first asks."""

    def __init__(self, image, *, seed=0):
        self.image = image  # [1,3,H,W] the warped previous frame the new frame starts from
        self.seed = seed
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
    def embedding(self, perceptor):
        """CLIP embedding [1,d] of the reference image, for one perceptor."""
        return self._once(
            ("embedding", id(perceptor)), lambda: embed_image(perceptor, self.image, self.seed)
        )


class Animator:
    """Moves the image between frames: PyTTI's 2D affine, or a 3D camera over estimated depth."""

    def __init__(self, run_plan, device, depth_model=None):
        self.plan, self.device, self.depth_model = run_plan, device, depth_model
        self.values = {}  # the motion values (and depth range) of the current frame
        self.notes = []  # how the animation had to be carried out, for the run's report

    def steer(self, run_plan) -> None:
        """Follow a live edit: new motion values from the next frame on."""
        self.plan = run_plan

    @torch.no_grad()
    def begin_frame(self, image_model, optimizer, ctx, timer=no_timer) -> FrameRefs:
        """Warp the image (and its optimiser moments) into the new frame; return its references."""
        s = self.plan.settings
        if s.animation_mode == "2D":
            self.values = evaluate(self.plan.motion, ctx)
            warp = Warp(
                sampling=s.sampling_mode,
                infill=s.infill_mode,
                affine=two_d.affine(self.values, image_model.width, image_model.height),
            )
        else:
            warp = self._camera_warp(image_model, ctx, timer)
        with timer("frame_warp"):
            moved_parameters = image_model.warp(warp, optimizer)
            reference = image_model.decode().detach().clamp(0, 1)
        if not moved_parameters and not self.notes:
            self.notes.append(
                f"{type(image_model).__name__} cannot warp its parameters: every frame is "
                "decoded, warped and encoded again, and its optimiser moments restart"
            )
        return FrameRefs(reference, seed=s.seed)

    def _camera_warp(self, image_model, ctx, timer) -> Warp:
        """The 3D warp: depth of the current image, moved camera, inverted forward flow."""
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
        self.values = {**evaluate(self.plan.motion, ctx, depths), **depths}
        flow = three_d.forward_flow(depth, self.values, s.field_of_view, out_size, s.lock_camera)
        return Warp(
            sampling=s.sampling_mode,
            infill=s.infill_mode,
            displacement=three_d.displacement(flow, out_size),
        )

    def state_dict(self) -> dict:
        """The current frame's motion values (they go into every saved image's metadata)."""
        return {
            "values": {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()}
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        values = state.get("values", {})
        self.values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
