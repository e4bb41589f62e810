"""The render loop: a generator of snapshots that does no I/O (session.py builds what it runs,
step.py is one step, the caller saves and shows what it yields)."""

import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config.clock import Clock
from ..config.schema import Settings
from ..config.settings import replace
from . import step


@dataclass(frozen=True)
class Snapshot:
    """What the loop yields at display and save points (and where between_steps asks for one);
    the consumer does all I/O."""

    step: int  # optimisation steps completed
    total_steps: int
    scene: int  # 0-based scene index of the last step
    frame: int  # animation frame of the last step (-1 before the animation, or without one)
    t: float  # seconds of animation time at the last step
    image: np.ndarray  # uint8 HxWx3
    losses: dict  # name -> float, from the last step
    seconds_per_step: float  # wall time per step since the previous snapshot
    settings: Settings  # the settings in force at this step (steering and retries change them)
    clock: Clock  # the run's time base: scenes, frames and steps the counters above run to
    save_number: int | None = None  # 1-based number of the saved image at save points
    final: bool = False
    between: bool = False  # asked for by between_steps, not a display or save point
    motion: dict = field(default_factory=dict)  # the current frame's motion values
    audio: dict = field(default_factory=dict)  # the current frame's audio bands
    palette: np.ndarray | None = None  # uint8 swatch of a Limited Palette (show_palette)


def with_seed(settings: Settings) -> Settings:
    """Settings with a concrete seed, drawn at random when none is set."""
    return settings if settings.seed is not None else replace(settings, seed=secrets.randbits(62))


def snapshots(session, should_stop=lambda: False, between_steps=None):
    """Run the session's remaining steps, yielding a Snapshot at display and save points and at
    the end (or at should_stop()). between_steps(session), called after every other step (no
    GPU sync), returns True where its caller wants a snapshot there too (a UI's turn)."""
    mark = (time.perf_counter(), session.step)
    while session.step < session.run_plan.total_steps:
        # 1. a live edit's plan takes over between two steps
        session.apply_pending()
        # 2. when this step is: scene, animation frame, t
        ctx = session.run_plan.clock.at(session.step)
        # 3. once per animation frame: warp the image into it, set the frame's references
        if ctx.frame_start and session.animator is not None:
            session.begin_frame(ctx)
        # 4. one optimisation step (step.py): nothing in it waits for the GPU
        losses = step.guarded_step(session, ctx)
        session.step += 1
        # 5. a display or save point? Stopping ends the run at a save point
        stopping = should_stop()
        final, save, display = _points(session, stopping)
        if not (save or display):
            if not session.guard.sync_free:
                session.guard.check(losses)  # free off the GPU: stop at once
            if between_steps is None or not between_steps(session):
                continue
        # 6. the snapshot: the GPU syncs here, as it does at every display point
        session.guard.check(losses)
        now = time.perf_counter()
        per_step = (now - mark[0]) / max(session.step - mark[1], 1)
        mark = (now, session.step)
        yield _snapshot(session, ctx, losses, per_step, final, save, not (save or display))
        if stopping:
            return


def _points(session, stopping: bool) -> tuple[bool, bool, bool]:
    """(the end, a save point, a display point) after the session's last step; the end saves."""
    s, done = session.settings, session.step
    final = stopping or done == session.run_plan.total_steps
    save = final or (s.save_every > 0 and done % s.save_every == 0)
    return final, save, s.display_every > 0 and done % s.display_every == 0


def _snapshot(session, ctx, losses, per_step, final, save, between) -> Snapshot:
    """Package the current image and losses: the display point, where the GPU syncs."""
    s, run_plan = session.settings, session.run_plan
    image = _to_uint8(session.image.display())
    swatch = session.image.swatch() if s.show_palette else None
    return Snapshot(
        step=session.step,
        total_steps=run_plan.total_steps,
        scene=ctx.scene,
        frame=ctx.frame,
        t=ctx.t,
        image=image,
        losses={k: float(v) for k, v in losses.items()},  # a GPU sync point
        seconds_per_step=per_step,
        settings=s,
        clock=run_plan.clock,
        save_number=_save_number(session) if save else None,
        final=final,
        between=between,
        motion=dict(session.animator.values) if session.animator is not None else {},
        audio=run_plan.audio.at(ctx.frame) if run_plan.audio is not None else {},
        palette=_to_uint8(swatch) if swatch is not None else None,
    )


def _save_number(session) -> int:
    """1-based number of the saved image: PyTTI's ceil(step / save_every), last included."""
    every = session.settings.save_every or session.run_plan.total_steps
    return -(-session.step // every)


@torch.no_grad()
def _to_uint8(image) -> np.ndarray:
    """A [1,3,H,W] image in [0,1] as uint8 HxWx3 on the CPU (a GPU sync point)."""
    return image[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
