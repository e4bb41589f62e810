"""`python -m pytti_nb.bench`: time one optimisation step by stage, against the perceptor alone.

The perceptor is the real open_clip architecture with random weights (the arithmetic is the
same as with trained ones), so this runs offline. The ratio printed last is the whole step's
time over the perceptor's own forward+backward on the same cutouts: 1.00 would mean every
other stage is free.
"""

import argparse
import platform
import time

import torch

from .device import pick_device
from .engine.render import Renderer
from .models import ModelCache
from .perceptors import Perceptor, resolve_precision
from .plan import plan
from .settings import from_dict
from .timing import synchronize

PRECISION_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


class _Prebuilt(ModelCache):
    """A model cache whose perceptor is already built (random weights), whatever the spec."""

    def __init__(self, perceptor):
        super().__init__()
        self.prebuilt = perceptor

    def perceptors(self, settings):
        """The prebuilt perceptor."""
        return [self.prebuilt]


def random_perceptor(model_name: str, device, dtype) -> Perceptor:
    """A frozen open_clip model with random weights (no download)."""
    import open_clip

    model = open_clip.create_model(
        model_name, pretrained=None, device=device, precision=PRECISION_NAMES[dtype]
    )
    return Perceptor(
        f"{model_name} (random weights)", model, open_clip.get_tokenizer(model_name), device, dtype
    )


def time_it(fn, device, repeats: int) -> float:
    """Mean seconds per call of fn, with the GPU synced around the whole batch of calls."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def build_renderer(args) -> Renderer:
    """A renderer at the benchmark's size with a random-weight perceptor."""
    device = pick_device(args.device)
    dtype = resolve_precision(args.precision, device)
    settings = from_dict(
        {
            "scenes": "a watercolour of a lighthouse at dusk",
            "perceptors": [args.model],
            "width": args.size,
            "height": args.size,
            "pixel_size": 1,
            "cutouts": args.cutouts,
            "seed": 0,
            "steps_per_scene": 10**6,
            "device": device.type,
            "precision": PRECISION_NAMES[dtype],
        }
    )
    # plan() checks the model name without loading weights; the weights here are random
    return Renderer(plan(settings), _Prebuilt(random_perceptor(args.model, device, dtype)))


def perceptor_alone(renderer: Renderer, repeats: int) -> float:
    """Seconds for the perceptor's forward+backward alone on a fixed batch of the step's cutouts."""
    from .cutouts import make_cutouts

    s, p = renderer.settings, renderer.perceptors[0]
    with torch.no_grad():
        z = renderer.image.decode()
    cuts = make_cutouts(
        z,
        s.cutouts,
        p.input_size,
        cut_pow=s.cut_pow,
        border=s.cutout_border,
        border_mode=s.border_mode,
        augs=renderer.augs,
        generator=renderer.rng,
    )
    x = ((cuts.images - p.mean) / p.std).to(p.dtype).requires_grad_()

    def fwd_bwd():
        p.model.encode_image(x).float().sum().backward()
        x.grad = None

    fwd_bwd()  # warm-up
    return time_it(fwd_bwd, renderer.device, repeats)


def main(argv=None) -> None:
    """Run the benchmark and print a table of milliseconds per stage."""
    parser = argparse.ArgumentParser(prog="python -m pytti_nb.bench", description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--cutouts", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    args = parser.parse_args(argv)

    r = build_renderer(args)
    ctx = r.plan.clock.at(0)
    for _ in range(args.warmup):
        r.train_step(ctx)
    step_s = time_it(lambda: r.train_step(ctx), r.device, args.steps)
    r.timer.enabled = True
    for _ in range(args.steps):
        r.train_step(ctx)
    stages = {k: v / args.steps for k, v in r.timer.totals.items()}
    alone = perceptor_alone(r, args.steps)

    name = (
        torch.cuda.get_device_name(r.device)
        if r.device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    print(
        f"pytti_nb bench: {args.model} (random weights), {args.size}x{args.size}, "
        f"{args.cutouts} cutouts, {PRECISION_NAMES[r.perceptors[0].dtype]}, "
        f"device {r.device.type} ({name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print("| stage | ms per step |")
    print("|---|---|")
    for key in ("decode", "cutouts", "perceptor_forward", "loss", "backward", "optimizer"):
        print(f"| {key} | {1000 * stages.get(key, 0.0):.1f} |")
    print(f"| **whole step** (no per-stage syncs) | **{1000 * step_s:.1f}** |")
    print(f"| perceptor forward+backward alone | {1000 * alone:.1f} |")
    print(f"\nratio whole step / perceptor alone: {step_s / alone:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
