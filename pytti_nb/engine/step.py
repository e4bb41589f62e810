"""One optimisation step of a session: cutouts in micro-batches, losses, one backward through
the decoder, the guarded optimiser step; retried with finer micro-batches when the device runs
out of memory. The stage names are the benchmark's rows (bench.py)."""

import dataclasses

import torch

from ..config.settings import replace
from ..errors import RenderHalted
from ..perception.cutouts import make_cutouts
from .guard import finer_split, free_memory, is_out_of_memory


def guarded_step(session, ctx) -> dict:
    """train_step; out of device memory, retried from the same random state with the cutouts
    in more micro-batches (the step had changed nothing yet)."""
    rng = session.rng.get_state()
    while True:
        try:
            return train_step(session, ctx)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
        session.optimizer.zero_grad(set_to_none=True)
        session.rng.set_state(rng)
        free_memory(session.device)
        _split_finer(session)


def _split_finer(session) -> None:
    """Raise gradient_accumulation_steps after running out of memory, or halt the run."""
    s, step = session.settings, session.step + 1
    finer = finer_split(s.cutouts, s.gradient_accumulation_steps)
    if finer is None:
        width, height = session.run_plan.output_size
        raise RenderHalted(
            f"out of device memory at step {step} with one cutout per perceptor "
            f"batch ({s.cutouts} batches); lower width/height ({width}x{height} pixels), use "
            "smaller perceptors, or precision bf16/fp16. The checkpoint holds the run up to "
            "the step before."
        )
    session.adjust(
        replace(s, gradient_accumulation_steps=finer),
        f"out of device memory at step {step}: gradient_accumulation_steps "
        f"raised from {s.gradient_accumulation_steps} to {finer}",
    )


def train_step(session, ctx) -> dict:
    """One optimisation step at ctx; returns detached loss tensors by name (no sync)."""
    timer, image = session.timer, session.image
    with timer("decode"):
        rgb = image.decode()  # [1,3,H,W]
    rgb_leaf = rgb.detach().requires_grad_()  # perceptor micro-batches backprop into this
    values = _cutout_losses(session, rgb_leaf, ctx)
    with timer("loss"):
        pixel = {}
        for term in session.image_terms:
            loss = term.loss(rgb, ctx)
            if loss is not None:
                pixel[term.name] = loss
        pixel.update(image.regularizers())
        pixel_total = sum(pixel.values(), rgb.new_zeros(()))
    with timer("decode_backward"):
        # one backward through the decoder, however many perceptor micro-batches ran
        roots, grads = [rgb], [rgb_leaf.grad]
        if pixel_total.requires_grad:
            roots.append(pixel_total)
            grads.append(None)
        torch.autograd.backward(roots, grads)
    values.update({k: v.detach() for k, v in pixel.items()})
    values["total"] = sum(values.values(), rgb.new_zeros(()))
    with timer("optimizer"):
        session.guard.step(session.optimizer, image, values["total"])
        session.optimizer.zero_grad(set_to_none=True)
    return values


def cutouts(session, image, n: int, perceptor, ctx=None):
    """n random augmented cutouts of the image at the perceptor's input size (at step ctx:
    the das augmentations' strengths follow their schedules)."""
    s = session.settings
    cuts = make_cutouts(
        image,
        n,
        perceptor.input_size,
        cut_pow=s.cut_pow,
        border=s.cutout_border,
        border_mode=s.border_mode,
        augs=das_augs(session, ctx) if s.augmentations == "das" else session.augs,
        generator=session.rng,
        seamless=s.seamless,
    )
    return dataclasses.replace(cuts, mask_geometry=s.mask_geometry)


def das_augs(session, ctx):
    """The session's augmentations with das_noise and das_color at this step, each scaled down
    linearly over its scene by das_decay (none without a step: image prompts' cutouts)."""
    s, schedules = session.settings, session.run_plan.schedules
    if ctx is None:
        return session.augs
    done = (ctx.step - ctx.scene * s.steps_per_scene) / s.steps_per_scene  # of the scene
    left = max(1.0 - s.das_decay * done, 0.0)
    noise = max(ctx.value(schedules["das_noise"]), 0.0) * left
    colour = max(ctx.value(schedules["das_color"]), 0.0) * left
    return dataclasses.replace(session.augs, das_noise=noise, das_color=colour)


def _cutout_losses(session, rgb_leaf, ctx) -> dict:
    """Every cutout term of every perceptor, backpropagated into rgb_leaf in micro-batches."""
    s, timer = session.settings, session.timer
    n_micro = s.gradient_accumulation_steps
    per_micro = s.cutouts // n_micro
    scale = 1.0 / (n_micro * len(session.perceptors))
    totals = {}
    for perceptor in session.perceptors:
        for _ in range(n_micro):
            with timer("cutouts"):
                cuts = cutouts(session, rgb_leaf, per_micro, perceptor, ctx)
            with timer("perceptor_forward"):
                emb = perceptor.encode_image(cuts.images)  # [n,d]
            with timer("loss"):
                parts = {}
                for term in session.cutout_terms:
                    loss = term.loss(perceptor, emb, cuts, ctx)
                    if loss is not None:
                        parts[term.name] = loss * scale
                loss = sum(parts.values(), emb.new_zeros(()))
            with timer("backward"):
                if loss.requires_grad:
                    loss.backward()
            for name, part in parts.items():
                totals[name] = totals.get(name, 0.0) + part.detach()
    if rgb_leaf.grad is None:
        rgb_leaf.grad = torch.zeros_like(rgb_leaf)
    return totals
