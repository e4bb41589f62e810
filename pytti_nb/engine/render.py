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
    key_frame: bool = True  # optimised (with a cadence, frames between key frames are warped)


def with_seed(settings: Settings) -> Settings:
    """Settings with a concrete seed, drawn at random when none is set."""
    return settings if settings.seed is not None else replace(settings, seed=secrets.randbits(62))


def snapshots(session, should_stop=lambda: False, between_steps=None):
    """Run the session's remaining steps, yielding a Snapshot at display and save points and at
    the end (or at should_stop()). between_steps(session), called after every other step (no
    GPU sync), returns True where its caller wants a snapshot there too (a UI's turn)."""
    mark = (time.perf_counter(), session.step)
    mark = yield from _owed(session, mark)  # 0. frames a resumed cadence window still owes
    while session.step < session.run_plan.total_steps:
        # 1. a live edit's plan takes over between two steps
        session.apply_pending()
        # 2. when this step is: scene, animation frame, t
        ctx = session.run_plan.clock.at(session.step)
        # 3. once per animation frame: warp the image into it, set the frame's references (with
        # a cadence, an in-between frame moves on to the next key frame, whose steps run next)
        if ctx.frame_start and session.animator is not None:
            ctx = _begin_frame(session, ctx)
        # 4. one optimisation step (step.py): nothing in it waits for the GPU
        losses = step.guarded_step(session, ctx)
        session.step += 1
        # 5. a display or save point? Stopping ends the run at a save point
        stopping = should_stop()
        final, save, display = _points(session, stopping)
        # 6. a key frame done: the frames made between it and the last come out first
        if session.cadence is not None and session.cadence.key_done(session):
            session.guard.check(losses)
            points = [session.step] if save or display else []
            session.cadence.close(session, points, _floats(losses), final)
            mark = yield from _owed(session, mark)
            if final:
                return
            continue
        if not (save or display):
            if not session.guard.sync_free:
                session.guard.check(losses)  # free off the GPU: stop at once
            if between_steps is None or not between_steps(session):
                continue
        # 7. the snapshot: the GPU syncs here, as it does at every display point
        session.guard.check(losses)
        now = time.perf_counter()
        per_step = (now - mark[0]) / max(session.step - mark[1], 1)
        mark = (now, session.step)
        yield _snapshot(session, ctx, losses, per_step, final, save, not (save or display))
        if stopping:
            return


def _begin_frame(session, ctx):
    """Move into the frame that starts at ctx; the context the loop's step runs in."""
    cadence = session.cadence
    if cadence is None or cadence.is_key(session.run_plan.clock, ctx.frame):
        session.begin_frame(ctx)
        return ctx
    return cadence.open(session, ctx)


def _owed(session, mark):
    """Yield the frames a cadence window has made and not yet emitted, in order; the new mark
    of the per-step timing (those frames took no steps of their own)."""
    cadence = session.cadence
    if cadence is None or not cadence.pending:
        return mark
    now = time.perf_counter()
    per_step = (now - mark[0]) / max(session.step - mark[1], 1)
    while cadence.pending:
        item = cadence.pending[0]
        done = item.dones.pop(0)
        if not item.dones:
            cadence.pending.pop(0)
        # taken from the queue before it is yielded: a checkpoint taken here owes the rest
        yield _made_snapshot(session, item, done, per_step, final=item.final and not item.dones)
    return (now, session.step)


def _points(session, stopping: bool) -> tuple[bool, bool, bool]:
    """(the end, a save point, a display point) after the session's last step; the end saves."""
    final = stopping or session.step == session.run_plan.total_steps
    save, display = points_at(session.settings, session.step)
    return final, final or save, display


def points_at(settings, done: int) -> tuple[bool, bool]:
    """(a save point, a display point) after `done` steps of the run's timeline."""
    save = settings.save_every > 0 and done % settings.save_every == 0
    return save, settings.display_every > 0 and done % settings.display_every == 0


def _snapshot(session, ctx, losses, per_step, final, save, between) -> Snapshot:
    """Package the current image and losses: the display point, where the GPU syncs."""
    return _package(
        session,
        ctx,
        image=_to_uint8(session.image.display()),
        losses=_floats(losses),  # a GPU sync point
        per_step=per_step,
        save=save,
        motion=dict(session.animator.values) if session.animator is not None else {},
        final=final,
        between=between,
    )


def _made_snapshot(session, item, done, per_step, final) -> Snapshot:
    """A cadence frame's snapshot at one of its points, `done` steps into the run's timeline."""
    ctx = session.run_plan.clock.at(done - 1)
    save = final or points_at(session.settings, done)[0]
    return _package(
        session, ctx, image=item.image, losses=item.losses, per_step=per_step, save=save,
        motion=item.values, final=final, step=done, key_frame=item.key,
    )  # fmt: skip


def _package(session, ctx, *, image, losses, per_step, save, motion, step=None, **flags):
    """A Snapshot of an image at a step of the run (the session's own step by default)."""
    s, run_plan = session.settings, session.run_plan
    step = session.step if step is None else step
    swatch = session.image.swatch() if s.show_palette else None
    return Snapshot(
        step=step,
        total_steps=run_plan.total_steps,
        scene=ctx.scene,
        frame=ctx.frame,
        t=ctx.t,
        image=image,
        losses=losses,
        seconds_per_step=per_step,
        settings=s,
        clock=run_plan.clock,
        save_number=_save_number(session, step) if save else None,
        motion=motion,
        audio=run_plan.audio.at(ctx.frame) if run_plan.audio is not None else {},
        palette=_to_uint8(swatch) if swatch is not None else None,
        **flags,
    )


def _floats(losses: dict) -> dict:
    """The losses as Python floats (a GPU sync point)."""
    return {k: float(v) for k, v in losses.items()}


def _save_number(session, step: int) -> int:
    """1-based number of the saved image: PyTTI's ceil(step / save_every), last included."""
    every = session.settings.save_every or session.run_plan.total_steps
    return -(-step // every)


@torch.no_grad()
def _to_uint8(image) -> np.ndarray:
    """A [1,3,H,W] image in [0,1] as uint8 HxWx3 on the CPU (a GPU sync point)."""
    return image[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
