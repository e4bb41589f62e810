"""Cadence: optimise every Nth animation frame (a key frame) and make the frames between by
warping the key frames along the motion (Deforum's cadence).

Key frames are the frames f with f % cadence == 0, the first frame of every scene and the run's
last frame; the clock keeps its step timeline, and an in-between frame's steps are skipped. At
the first step of an in-between frame a window opens: the animator moves the image (and its
Adam moments) through every frame up to the next key frame b in turn, so motion, audio and depth
are evaluated per frame exactly as without cadence, and the window keeps each in-between frame's
picture (the previous key frame a moved forward) and the inverse of each move. When b has had
its steps, in-between frame i is a moved forward blended with b moved backward by the moves
b .. i+1, b's weight (i - a) / (b - a); the frames are emitted in order, b last. Everything the
window holds goes into the checkpoint, so a run stopped during b or while emitting resumes to
the same bits.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..animation.base import plain_values, tuple_values
from ..animation.warp import Warp
from .render import _to_uint8, points_at


@dataclass
class Pending:
    """An output frame made, waiting to be emitted at its display and save points."""

    frame: int
    image: np.ndarray  # uint8 HxWx3
    values: dict  # the animator's values of the frame (motion, depth range)
    key: bool  # a key frame (optimised), or one made between two
    losses: dict  # the key frame's last losses; none for an in-between frame
    dones: list  # the steps counted at its display and save points still to emit
    final: bool = False  # the run's last snapshot


class Cadence:
    """The open window between two key frames and the frames it still owes the output."""

    def __init__(self, every: int):
        self.every = every
        self.key = None  # the key frame the open window ends at (None: no window open)
        self.forward = []  # per in-between frame: the last key frame moved forward [1,3,H,W]
        self.inverse = []  # per frame from the first in-between to the key: its move, inverted
        self.values = []  # per in-between frame: the animator's values
        self.pending = []  # Pending frames still to emit, in order

    @classmethod
    def of(cls, settings) -> "Cadence | None":
        """The cadence of an animation that optimises only some frames (None: every frame)."""
        animated = settings.animation_mode != "off"
        return cls(settings.cadence) if animated and settings.cadence > 1 else None

    def is_key(self, clock, frame: int) -> bool:
        """Whether the optimiser runs on `frame`: every Nth, a scene's first and the last."""
        return clock.is_key_frame(frame, self.every)

    @property
    def first(self) -> int:
        """The first in-between frame of the open window."""
        return self.key - len(self.inverse) + 1

    @torch.no_grad()
    def open(self, session, ctx):
        """At an in-between frame's start: move through the frames up to the next key frame,
        keeping what the in-between frames are made of; the key frame's first step's context
        (the loop goes on from there, the in-between frames' steps skipped)."""
        clock, animator = session.run_plan.clock, session.animator
        key = next(f for f in range(ctx.frame, clock.frames) if self.is_key(clock, f))
        self.key, self.forward, self.inverse, self.values = key, [], [], []
        picture = session.image.display().detach().clamp(0, 1)  # key frame a
        for frame in range(ctx.frame, key):
            at = clock.at(clock.frame_start_step(frame))
            media = session.media.at(frame) if session.media is not None else None
            animator.begin_frame(session.image, session.optimizer, at, session.timer, media)
            if animator.values.get("reencoded"):  # a Video Source frame started from the video:
                picture = animator.last_warp.apply(picture).clamp(0, 1)  # key a moved on
            else:  # the image model is key a moved on (its colours matched, if asked)
                picture = session.image.display().detach().clamp(0, 1)
            self.forward.append(picture)
            self.inverse.append(animator.last_warp.inverse())
            self.values.append(dict(animator.values))
        session.step = clock.frame_start_step(key)
        ctx = clock.at(session.step)
        session.begin_frame(ctx)  # the key frame's own move and references
        self.inverse.append(animator.last_warp.inverse())
        return ctx

    def key_done(self, session) -> bool:
        """Whether the open window's key frame has just had its last step."""
        if self.key is None:
            return False
        clock = session.run_plan.clock
        end = min(clock.frame_start_step(self.key + 1), clock.total_steps)
        return session.step == end

    @torch.no_grad()
    def close(self, session, key_points: list, losses: dict, final: bool) -> None:
        """The key frame is done: make the in-between frames and queue them, then the key
        frame at its own points (`key_points`: steps counted there, at most its last)."""
        a, b = self.first - 1, self.key
        clock = session.run_plan.clock
        moved = session.image.display().detach().clamp(0, 1)  # key b, moved back frame by frame
        made = {}
        for i in range(b - 1, a, -1):
            moved = self.inverse[i + 1 - self.first].apply(moved).clamp(0, 1)
            weight = (i - a) / (b - a)
            made[i] = self.forward[i - self.first] * (1 - weight) + moved * weight
        for i in range(a + 1, b):
            start, end = clock.frame_start_step(i), clock.frame_start_step(i + 1)
            dones = [d for d in range(start + 1, end + 1) if any(points_at(session.settings, d))]
            if dones:  # a frame with no display or save point is not shown
                image = _to_uint8(made[i])
                values = self.values[i - self.first]
                self.pending.append(Pending(i, image, values, False, {}, dones))
        if key_points:
            image = _to_uint8(session.image.display())
            values = dict(session.animator.values)
            self.pending.append(Pending(b, image, values, True, losses, key_points, final))
        self.key, self.forward, self.inverse, self.values = None, [], [], []

    def state_dict(self) -> dict:
        """The open window and the frames still owed, on the CPU (checkpoint-safe types)."""
        return {
            "key": self.key,
            "forward": [x.cpu().clone() for x in self.forward],
            "inverse": [_warp_state(w) for w in self.inverse],
            "values": [plain_values(v) for v in self.values],
            "pending": [
                {
                    **asdict(p),
                    "image": torch.from_numpy(p.image.copy()),
                    "values": plain_values(p.values),
                }
                for p in self.pending
            ],
        }

    def load_state_dict(self, state: dict, device) -> None:
        """Restore state_dict()."""
        self.key = state.get("key")
        self.forward = [torch.as_tensor(x).to(device) for x in state.get("forward", [])]
        self.inverse = [_warp_of(w) for w in state.get("inverse", [])]
        self.values = [tuple_values(v) for v in state.get("values", [])]
        self.pending = [
            Pending(**{**p, "image": np.asarray(p["image"]), "values": tuple_values(p["values"])})
            for p in state.get("pending", [])
        ]


def steps_left(session) -> int:
    """The optimisation steps the session has still to run: under a cadence, those before the
    animation and of the key frames (the in-between frames' steps are skipped)."""
    clock, cadence = session.run_plan.clock, session.cadence
    total = clock.total_steps
    if cadence is None or not clock.frames:
        return total - session.step
    left = max(min(clock.pre_animation_steps, total) - session.step, 0)
    for frame in clock.key_frames(cadence.every):
        start = max(clock.frame_start_step(frame), session.step)
        left += max(min(clock.frame_start_step(frame + 1), total) - start, 0)
    return left


def _warp_state(warp: Warp) -> dict:
    """A Warp as checkpoint-safe values."""
    field = warp.affine if warp.affine is not None else warp.displacement
    return {
        "sampling": warp.sampling,
        "infill": warp.infill,
        "affine": warp.affine is not None,
        "field": field.detach().cpu().clone(),
    }


def _warp_of(state: dict) -> Warp:
    """The Warp of _warp_state() (Warp.apply moves it to the image's device)."""
    kind = "affine" if state["affine"] else "displacement"
    return Warp(sampling=state["sampling"], infill=state["infill"], **{kind: state["field"]})
