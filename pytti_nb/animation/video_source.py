"""Video Source: the image follows a video's motion, frame by frame (PyTTI's rotoscoping).

Animation frame k shows source frame (k + 1) * frame_stride. At its start the optical flow
between source frames k * stride and (k + 1) * stride moves the image (and its Adam moments);
the moved image, where the flow is reliable, is what flow stabilisation holds the new frame
to. With reencode_each_frame, or at a scene cut (under 3% of pixels reliable), the new source
frame is then encoded as the image. Long-term samples hold the frame to the outputs 2, 4, ...
frames back too, moved by the flow from their source frames, each where no nearer sample
already is (Ruder et al. 2016); those outputs are kept in memory (and in the checkpoint).
The direct, edge, depth and semantic stabilisation losses compare with the source frame.
The source frames come decoded with each frame's media (engine.frames), read ahead of the loop.
color_coherence matches the moved image's colours before any re-encode: a re-encoded frame
starts from the video's own colours.
"""

import torch

from ..perception.targets import to_tensor
from ..timing import no_timer
from .base import Animator, FrameRefs
from .flow import SCENE_CUT, consistency_mask, flow_warp
from .warp import infill_of


class VideoSourceAnimator(Animator):
    """Moves the image along the source video's optical flow."""

    def __init__(self, run_plan, device, flow_model, assets=None):
        super().__init__(run_plan, device, assets)
        self.flow_model = flow_model
        self.samples = run_plan.settings.flow_long_term_samples
        self.kept = {}  # output frame index -> its image at its end [1,3,H,W]
        self.kept_latents = {}  # the same frames' latent_state(), when the flow loss has latents

    def _source(self, media, index: int):
        """Source frame `index` as [1,3,H,W] in [0,1] at the output size, from the frame's media."""
        return to_tensor(media.source[index], self.device)

    def move(self, image_model, optimizer, ctx, timer, media) -> FrameRefs:
        """Follow the flow to source frame (k + 1) * stride; long-term targets; maybe re-encode."""
        s = self.run_plan.settings
        k, stride = ctx.frame, s.frame_stride
        self.kept[k - 1] = image_model.decode().detach().clamp(0, 1)  # the output just finished
        self.kept = {m: v for m, v in self.kept.items() if m >= k - 2**self.samples}
        latents = self._wants_latents(image_model)
        if latents:
            self.kept_latents[k - 1] = image_model.latent_state()
        self.kept_latents = {m: v for m, v in self.kept_latents.items() if m in self.kept}
        following = self._source(media, (k + 1) * stride)
        targets, covered, moved_latents = [], None, []
        for j in range(self.samples + 1):
            earlier = k - 2**j  # output frame whose source frame the flow starts from
            if earlier < -1 or earlier not in self.kept:
                break
            with timer("frame_flow"):
                start = self._source(media, (earlier + 1) * stride)
                forward = self.flow_model(start, following)
                backward = self.flow_model(following, start)
                reliable = consistency_mask(forward, backward)
            warp = flow_warp(backward, s.sampling_mode, infill_of(s))
            if j == 0:
                self._warp(image_model, warp, optimizer, timer)  # the image follows the video
                target = self._moved(image_model)  # colour-matched under color_coherence
                # PyTTI's latent target: the model's latent right after the move (set_flow,
                # OpticalFlowLossClass.py 394-408), before any re-encode
                latent = image_model.latent().detach() if latents else None
                self._encode(image_model, following, _continuity(warp, start, following, reliable))
            else:
                target = warp.apply(self.kept[earlier])
                kept = self.kept_latents.get(earlier) if latents else None
                latent = None if kept is None else image_model.latent(warp.apply(kept)).detach()
            mask = reliable if covered is None else (reliable - covered).clamp(0, 1)
            covered = reliable.clone() if covered is None else covered + reliable
            targets.append((target, mask))
            moved_latents.append(latent)
        return FrameRefs(following, flow_targets=targets, flow_latents=moved_latents)

    def _wants_latents(self, image_model) -> bool:
        """Whether the flow loss has PyTTI's latent part (direct_loss pytti, a model with a
        latent_strength, flow stabilisation on)."""
        s = self.run_plan.settings
        return bool(
            s.direct_loss == "pytti"
            and image_model.latent_strength
            and "flow_stabilization_weight" not in self.run_plan.off
        )

    def _encode(self, image_model, following, share: float) -> None:
        """Start the frame from the source frame when asked to, or at a scene cut."""
        cut = share < SCENE_CUT
        again = self.run_plan.settings.reencode_each_frame or cut
        if cut:  # a new shot: encoded afresh (PyTTI's full encode)
            image_model.encode(following)
        elif again:  # the same shot: a model may keep some of its state (palette_reencode)
            image_model.reencode(following)
        self.values = {"source_frame": None, "reliable": share, "reencoded": again, "cut": cut}

    def begin_frame(self, image_model, optimizer, ctx, timer=no_timer, media=None):
        """Move into the new frame and record which source frame it shows."""
        refs = super().begin_frame(image_model, optimizer, ctx, timer, media)
        self.values["source_frame"] = (ctx.frame + 1) * self.run_plan.settings.frame_stride
        return refs

    def state_dict(self) -> dict:
        """The frame's values and the outputs the long-term samples will look back at."""
        kept = {str(m): image.cpu() for m, image in self.kept.items()}
        state = {**super().state_dict(), "kept": kept}
        if self.kept_latents:
            state["kept_latents"] = {str(m): x.cpu() for m, x in self.kept_latents.items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        super().load_state_dict(state)
        kept = state.get("kept", {})
        self.kept = {int(m): torch.as_tensor(image).to(self.device) for m, image in kept.items()}
        latents = state.get("kept_latents", {})
        self.kept_latents = {int(m): torch.as_tensor(x).to(self.device) for m, x in latents.items()}


def source_frames(frame: int, stride: int, samples: int) -> list[int]:
    """The source frames animation frame `frame` reads: the one it shows, (frame + 1) * stride,
    and those the flow starts from for each long-term sample, (frame + 1 - 2**j) * stride."""
    starts = [frame + 1 - 2**j for j in range(samples + 1) if frame + 1 - 2**j >= 0]
    return sorted({(frame + 1) * stride, *(start * stride for start in starts)})


def _continuity(warp, start, following, reliable) -> float:
    """The share of the new source frame that the old one, moved by the flow, explains: the
    flow is consistent there and the moved colours match (within 10%). Under SCENE_CUT, a cut.

    PyTTI counted consistent flow alone; a classical flow such as DIS still finds consistent
    patches between two unrelated shots, which the colours then rule out. One sync per frame.
    """
    matches = (warp.apply(start) - following).abs().amax(1, keepdim=True) < 0.1
    return float((reliable * matches).mean())
