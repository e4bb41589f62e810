"""The GPU check: one table of what a step costs on this card, ready to paste into the README.

    python tools/gpu_check.py            # on a CUDA machine: 512 px, ViT-B-32, 32 cutouts

Rows: the engine's step in fp32, in bf16, and in bf16 with the perceptor under torch.compile;
the memory estimate (estimate.py's probe) against the peak measured over the timed steps; and
a PyTTI-style baseline in the same process (one augmentation and one perceptor call per
cutout, as pytti-core's loop did). The step is also set against the card's bf16 compute
floor: the perceptor's forward and backward FLOPs (counted by torch) over the card's peak.
Goals: at least 30% of that floor, and at least 3x the PyTTI-style step. Runs on the CPU too
(--device cpu --size 64 --cutouts 2), and with --model demo (the demo perceptor's tiny
architecture) in a few seconds, which is how the tests keep it working.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytti_nb.bench import build_session, perceptor_alone, time_once  # noqa: E402
from pytti_nb.engine.estimate import estimate_run  # noqa: E402
from pytti_nb.engine.step import cutouts, train_step  # noqa: E402
from pytti_nb.perception.cutouts import make_cutouts  # noqa: E402
from pytti_nb.timing import synchronize  # noqa: E402

# dense bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 125.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
}


def main(argv=None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--model", default="ViT-B-32", help="open_clip model (default %(default)s), or demo (tiny)"
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--cutouts", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated")
    args = parser.parse_args(argv)
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for precision in args.precisions.split(","):
            rows.append(measure(args, workdir, precision, False, notes))
        if "bf16" in args.precisions and not args.no_compile and args.device != "cpu":
            rows.append(measure(args, workdir, "bf16", True, notes))
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"pytti_nb GPU check: {name}, torch {torch.__version__}, {args.model} (random weights), "
          f"{args.size}x{args.size}, {args.cutouts} cutouts")  # fmt: skip
    print("| configuration | step ms | perceptor f+b ms | PyTTI-style ms | speed-up | share of "
          "bf16 floor | estimate peak | measured peak |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for note in notes:
        print(note)


def measure(args, workdir, precision, compiled, notes) -> list[str]:
    """One configuration's row."""
    ns = argparse.Namespace(
        model=args.model, size=args.size, cutouts=args.cutouts, device=args.device,
        precision=precision, animation=None, steps_per_frame=50, depth_model="random",
        flow_model="random", image_model="Unlimited Palette", vqgan_model="random",
    )  # fmt: skip
    r = build_session(ns, workdir)
    perceptor = r.perceptors[0]
    if compiled:
        perceptor.model.encode_image = torch.compile(perceptor.model.encode_image)
    estimate = estimate_run(r)
    ctx = r.run_plan.clock.at(0)
    for _ in range(2):
        train_step(r, ctx)
    if r.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step = min(time_once(lambda: train_step(r, ctx), r.device) for _ in range(args.steps))
    peak = torch.cuda.max_memory_allocated() if r.device.type == "cuda" else None
    alone_fn = perceptor_alone(r)
    alone = min(time_once(alone_fn, r.device) for _ in range(args.steps))
    baseline = pytti_style_step(r, repeats=max(2, args.steps // 3))
    floor = compute_floor(r, perceptor, notes)
    share = f"{floor / step:.0%}" if floor else "n/a"
    return [
        precision + (" + torch.compile" if compiled else ""),
        f"{1000 * step:.1f}",
        f"{1000 * alone:.1f}",
        f"{1000 * baseline:.1f}",
        f"{baseline / step:.1f}x",
        share,
        _mib(estimate.peak_bytes) if r.device.type == "cuda" else "n/a",
        _mib(peak),
    ]


def pytti_style_step(r, repeats: int) -> float:
    """Seconds of PyTTI's step: every cutout cut, augmented and embedded on its own."""
    perceptor, s = r.perceptors[0], r.settings
    text = perceptor.encode_text(["a watercolour of a lighthouse at dusk"])

    def step():
        image = r.image.decode()
        loss = image.new_zeros(())
        for _ in range(s.cutouts):  # the per-cutout loop this project exists to avoid
            cut = make_cutouts(
                image, 1, perceptor.input_size, cut_pow=s.cut_pow, border=s.cutout_border,
                border_mode=s.border_mode, augs=r.augs, generator=r.rng,
            )  # fmt: skip
            emb = perceptor.encode_image(cut.images)
            loss = loss + (1 - torch.nn.functional.cosine_similarity(emb, text)).sum()
        loss.backward()
        r.optimizer.zero_grad(set_to_none=True)

    step()
    return min(time_once(step, r.device) for _ in range(repeats))


def compute_floor(r, perceptor, notes) -> float | None:
    """Seconds the perceptor's forward and backward FLOPs need at the card's bf16 peak."""
    from torch.utils.flop_counter import FlopCounterMode

    cuts = cutouts(r, r.image.decode().detach(), r.settings.cutouts, perceptor)
    x = ((cuts.images - perceptor.mean) / perceptor.std).to(perceptor.dtype).requires_grad_()
    with FlopCounterMode(display=False) as counter:
        perceptor.model.encode_image(x).float().sum().backward()
    flops = counter.get_total_flops()
    if r.device.type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    if peak is None:
        notes.append(f"{name}: bf16 peak unknown; add it to BF16_PEAK_TFLOPS")
        return None
    notes.append(f"perceptor forward+backward: {flops / 1e9:.0f} GFLOP; {name} bf16 peak "
                 f"{peak:.0f} TFLOP/s, floor {1000 * flops / (peak * 1e12):.3f} ms")  # fmt: skip
    return flops / (peak * 1e12)


def _mib(n) -> str:
    """Bytes as MiB, or n/a."""
    return "n/a" if n is None else f"{n / 2**20:.0f} MiB"


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    synchronize(torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    print(f"(took {time.perf_counter() - started:.0f} s)")
