"""`python -m pytti_nb.bench`: time one optimisation step by stage, against the perceptor alone.

The perceptor is the real open_clip architecture with random weights (the arithmetic is the
same as with trained ones), so this runs offline. The ratio printed last is the whole step's
time over the perceptor's own forward+backward on the same cutouts: 1.00 would mean every
other stage is free.

With --animation 2D, 3D or "Video Source" it also times the once-per-frame work (depth
estimation, optical flow, the warp of the image and its Adam moments, the stabilisation
references) and reports it as a share of a frame of --steps-per-frame steps (PyTTI's default
50), and the once-per-run analysis of a 60-second sound in three bands. 3D uses Depth Anything
V2 Small's architecture with random weights unless --depth-model names another model (or none);
Video Source follows a drawn video with RAFT Large's architecture with random weights unless
--flow-model says dis.

With --estimate it instead renders three small runs (a still image, a 2D animation with
semantic stabilisation, a Limited Palette) on the demo perceptor and prints each run's
estimated time (estimate.py's probe) against the time it took.

With --cadence N (and --animation) it also renders 4N + 1 frames at cadence 1 and at cadence
N and compares their wall time per output frame.

With --image-model it times that image model (Limited Palette, FFT, Pyramid, or VQGAN with the
imagenet model's architecture and random weights, saved as a taming checkpoint and loaded
through the same path as a download) and reports the image model's own cost (decode, the
backward through it, regularisers and the optimiser step) against the perceptor's forward and
backward.
"""

import argparse
import platform
import tempfile
import time

import torch

from .config.plan import plan_run
from .config.schema import schema_by_name
from .config.settings import from_dict
from .device import pick_device
from .engine import step
from .engine.estimate import estimate_run
from .engine.render import snapshots
from .engine.session import Session
from .models import ModelCache
from .perception.perceptors import Perceptor, resolve_precision
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


STAGES = (
    "decode",
    "cutouts",
    "perceptor_forward",
    "loss",
    "backward",
    "decode_backward",
    "optimizer",
)
IMAGE_MODEL_STAGES = ("decode", "decode_backward", "optimizer")
CADENCE_ROUNDS = 2  # --cadence renders each animation this many times, interleaved
RANDOM = "random"  # --depth-model, --flow-model: the default model's architecture, random weights


def random_depth_model(folder) -> str:
    """Save Depth Anything V2 Small's architecture with random weights into folder; its path."""
    from .models.depth import random_depth_anything

    model, processor = random_depth_anything(
        width=384, layers=12, heads=6, neck=(48, 96, 192, 384), fusion=64, head=32, size=518,
        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
    )  # fmt: skip
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def random_perceptor(model_name: str, device, dtype) -> Perceptor:
    """A frozen open_clip model with random weights (no download); 'demo': the bundled demo
    perceptor's small architecture (a step in milliseconds, which is how the tests run this)."""
    import open_clip

    from .perception.specs import DEMO, demo_dir

    name = f"local-dir:{demo_dir()}" if model_name == DEMO else model_name
    model = open_clip.create_model(
        name, pretrained=None, load_weights=False, device=device, precision=PRECISION_NAMES[dtype]
    )
    return Perceptor(
        f"{model_name} (random weights)", model, open_clip.get_tokenizer(name), device, dtype
    )


def random_raft(workdir) -> str:
    """RAFT Large's architecture with random weights, saved where its download would be."""
    from torchvision.models.optical_flow import raft_large

    from .models.flow_weights import raft_weights_path

    path = raft_weights_path("raft_large", workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(raft_large(weights=None).state_dict(), path)
    return "raft_large"


def drawn_video(workdir, size, frames=8) -> str:
    """A video of textured noise drifting 3 pixels a frame, at the benchmark's size."""
    import imageio_ffmpeg
    import numpy as np

    texture = np.random.default_rng(0).integers(0, 256, (size, size + 3 * frames, 3), np.uint8)
    path = f"{workdir}/drift.mp4"
    writer = imageio_ffmpeg.write_frames(
        path, (size, size), fps=12, codec="libx264", macro_block_size=8, ffmpeg_log_level="error"
    )
    writer.send(None)
    for i in range(frames):
        writer.send(np.ascontiguousarray(texture[:, 3 * i : 3 * i + size]).tobytes())
    writer.close()
    return path


def audio_analysis_seconds(workdir) -> float:
    """Seconds to analyse a drawn 60-second sound in three bands (decode included)."""
    import wave

    import numpy as np

    from .media.audio import analyse_audio, parse_filters

    rate, path = 44100, f"{workdir}/sixty.wav"
    t = np.arange(60 * rate) / rate
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((0.3 * np.sin(2 * np.pi * 80 * t) * 32767).astype("<i2").tobytes())
    bands = parse_filters(
        [
            {"variable_name": "fLo", "f_center": 80, "f_width": 40},
            {"variable_name": "fMid", "f_center": 800, "f_width": 400},
            {"variable_name": "fHi", "f_center": 3000, "f_width": 1000},
        ]
    )
    start = time.perf_counter()
    analyse_audio(path, 0.0, 12.0, bands)
    return time.perf_counter() - start


def random_vqgan(workdir) -> str:
    """taming's vqgan_imagenet_f16_16384 architecture with random weights, as a local checkpoint."""
    import yaml

    from .models.vqgan import build_vqgan

    ddconfig = dict(
        double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
        ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0,
    )  # fmt: skip
    params = dict(embed_dim=256, n_embed=16384, ddconfig=ddconfig)
    config = {"model": {"target": "taming.models.vqgan.VQModel", "params": params}}
    path = f"{workdir}/imagenet-random.ckpt"
    torch.save({"state_dict": build_vqgan(config).state_dict()}, path)  # as taming saves it
    with open(f"{workdir}/imagenet-random.yaml", "w") as f:
        yaml.safe_dump(config, f)
    return path


def time_once(fn, device) -> float:
    """Seconds one call of fn takes, the GPU synced before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def best_of(fns: dict, device, repeats: int) -> dict:
    """The fastest of `repeats` timings of each callable, their calls interleaved.

    Other load on the machine only ever adds time, so the minimum is the steadiest estimate;
    interleaving exposes every callable to the same conditions, so their ratio holds.
    """
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_once(fn, device))
    return {name: min(values) for name, values in times.items()}


def build_session(args, workdir, perceptor=None, **changes) -> Session:
    """A session at the benchmark's size with a random-weight perceptor (`perceptor`, or a new
    one), its settings changed by `changes`."""
    device = pick_device(args.device)
    dtype = resolve_precision(args.precision, device)
    animation = {}
    if args.animation:
        depth = args.depth_model
        if args.animation == "3D" and depth == RANDOM:
            depth = random_depth_model(workdir)
        flow = args.flow_model
        if args.animation == "Video Source" and flow == RANDOM:
            flow = random_raft(workdir)
        animation = {
            "animation_mode": args.animation,
            "video_path": drawn_video(workdir, args.size)
            if args.animation == "Video Source"
            else "",
            "flow_model": flow if flow != RANDOM else "dis",
            "models_cache_dir": workdir,
            "flow_stabilization_weight": 1,
            "steps_per_frame": args.steps_per_frame,
            "translate_x": 2,
            "rotate_2d": 3,
            "zoom_x_2d": 2,
            "zoom_y_2d": 2,
            "translate_z_3d": 10,
            "rotate_3d": "[0.9999, 0, 0.01, 0]",
            "depth_model": depth,
            "direct_stabilization_weight": 1,
            "edge_stabilization_weight": 1,
            "semantic_stabilization_weight": 1,
        }
    image = {"image_model": args.image_model}
    if args.image_model == "VQGAN":
        image["vqgan_model"] = (
            random_vqgan(workdir) if args.vqgan_model == RANDOM else args.vqgan_model
        )
    settings = from_dict(
        {
            **image,
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
            **animation,
            **changes,
        }
    )
    # plan_run() checks the model name without loading weights; the weights here are random
    perceptor = perceptor or random_perceptor(args.model, device, dtype)
    return Session(plan_run(settings), _Prebuilt(perceptor))


def perceptor_alone(session: Session):
    """The perceptor's forward+backward alone on a fixed batch of the step's cutouts, to time."""
    p = session.perceptors[0]
    with torch.no_grad():
        cuts = step.cutouts(session, session.image.decode(), session.settings.cutouts, p)
    x = ((cuts.images - p.mean) / p.std).to(p.dtype).requires_grad_()

    def fwd_bwd():
        p.model.encode_image(x).float().sum().backward()
        x.grad = None

    return fwd_bwd


def main(argv=None) -> None:
    """Run the benchmark and print a table of milliseconds per stage."""
    parser = argparse.ArgumentParser(prog="python -m pytti_nb.bench", description=__doc__)
    parser.add_argument(
        "--model",
        default="ViT-B-32",
        help="an open_clip model (default %(default)s), or demo: the demo's tiny architecture",
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--cutouts", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument(
        "--animation", choices=("2D", "3D", "Video Source"), help="also time per-frame work"
    )
    parser.add_argument("--steps-per-frame", type=int, default=50)
    parser.add_argument(
        "--cadence",
        type=int,
        help="with --animation: also render 4 x cadence + 1 frames at cadence 1 and at this "
        "cadence and compare their wall time per output frame",
    )
    parser.add_argument(
        "--image-model",
        default="Unlimited Palette",
        choices=schema_by_name()["image_model"].choices,
    )
    parser.add_argument("--vqgan-model", default=RANDOM, help="VQGAN: 'random' or a model")
    parser.add_argument("--depth-model", default=RANDOM, help="3D: 'random', none, or a model")
    parser.add_argument("--flow-model", default=RANDOM, help="Video Source: 'random' or dis")
    parser.add_argument(
        "--estimate", action="store_true", help="time small runs against their estimates"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        if args.estimate:
            compare_estimates(workdir, ESTIMATE_RUNS)
        else:
            run(args, workdir)


ESTIMATE_BASE = {"scenes": "a red circle", "perceptors": ["demo"], "seed": 1, "device": "cpu"}
ESTIMATE_RUNS = {
    "still": dict(width=24, height=24, pixel_size=4, cutouts=16, steps_per_scene=60,
                  save_every=10, display_every=5),
    "2D": dict(width=32, height=24, pixel_size=2, cutouts=8, steps_per_scene=60,
               animation_mode="2D", steps_per_frame=5, pre_animation_steps=10, translate_x=2,
               save_every=5, semantic_stabilization_weight=1),
    "palette": dict(image_model="Limited Palette", width=40, height=30, pixel_size=2,
                    cutouts=12, steps_per_scene=50, save_every=25),
}  # fmt: skip


def compare_estimates(workdir, runs: dict) -> None:
    """Render each run after estimating it; print estimate, measured time and their ratio."""
    models = ModelCache()
    print(f"pytti_nb bench --estimate: {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")  # fmt: skip
    print("| run | estimate s | measured s | measured / estimate |")
    print("|---|---|---|---|")
    for name, values in runs.items():
        settings = from_dict({**ESTIMATE_BASE, **values, "output_root": str(workdir)})
        r = Session(plan_run(settings), models)
        guess = estimate_run(r).seconds
        start = time.perf_counter()
        for _ in snapshots(r):
            pass
        took = time.perf_counter() - start
        print(f"| {name} | {guess:.2f} | {took:.2f} | {took / guess:.2f} |")


def run(args, workdir) -> None:
    """Build the session, time it and print the tables."""
    r = build_session(args, workdir)
    ctx = r.run_plan.clock.at(0)
    timed = {"step": lambda: step.train_step(r, ctx), "alone": perceptor_alone(r)}
    for _ in range(args.warmup):
        for fn in timed.values():
            fn()
    best = best_of(timed, r.device, args.steps)
    step_s, alone = best["step"], best["alone"]
    r.timer.enabled = True
    for _ in range(args.steps):
        step.train_step(r, ctx)
    stages = {k: v / args.steps for k, v in r.timer.totals.items()}

    name = (
        torch.cuda.get_device_name(r.device)
        if r.device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    print(
        f"pytti_nb bench: {args.image_model}, "
        f"{args.model} (random weights), {args.size}x{args.size}, "
        f"{args.cutouts} cutouts, {PRECISION_NAMES[r.perceptors[0].dtype]}, "
        f"device {r.device.type} ({name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads; best of {args.steps} (stages: mean)"
    )
    print("| stage | ms per step |")
    print("|---|---|")
    for key in STAGES:
        print(f"| {key} | {1000 * stages.get(key, 0.0):.1f} |")
    print(f"| **whole step** (no per-stage syncs) | **{1000 * step_s:.1f}** |")
    print(f"| perceptor forward+backward alone | {1000 * alone:.1f} |")
    print(f"\nratio whole step / perceptor alone: {step_s / alone:.3f} (goal <= 1.10)")
    own = sum(stages.get(key, 0.0) for key in IMAGE_MODEL_STAGES)
    print(
        f"image model ({args.image_model}: decode, its backward, optimizer): "
        f"{1000 * own:.1f} ms, {own / alone:.1%} of the perceptor's forward+backward "
        "(goal <= 10%; VQGAN's decoder is reported, not held to it)"
    )
    if args.animation:
        print_frame_costs(r, args, step_s)
        if args.cadence:
            print_cadence(r, args, workdir)
        analysed = audio_analysis_seconds(workdir)
        print(
            f"\naudio analysis, once per run: a 60 s sound in 3 bands takes {1000 * analysed:.0f} ms"
        )


def print_frame_costs(r: Session, args, step_s: float) -> None:
    """Time the once-per-frame work and print it against a frame's steps."""
    clock = r.run_plan.clock
    ctx = clock.at(clock.frame_start_step(1))
    r.timer.enabled = False
    r.begin_frame(ctx)  # warm-up (first depth inference, first warp)
    frame_s = best_of({"frame": lambda: r.begin_frame(ctx)}, r.device, args.steps)["frame"]
    r.timer.reset()
    r.timer.enabled = True
    for _ in range(args.steps):
        r.begin_frame(ctx)
    stages = {k: v / args.steps for k, v in r.timer.totals.items()}
    steps = args.steps_per_frame
    model = "-"
    if args.animation == "3D":
        random = "depth: Depth Anything V2 Small architecture, random weights"
        model = random if args.depth_model == RANDOM else f"depth: {args.depth_model}"
    elif args.animation == "Video Source":
        random = "flow: RAFT Large architecture, random weights, forward and backward"
        model = random if args.flow_model == RANDOM else f"flow: {args.flow_model}"
    print(
        f"\nper-frame work, {args.animation} ({model}), "
        "stabilisation: direct, edge, semantic (and flow in Video Source)"
    )
    print(f"| per-frame stage | ms per frame | share of a frame's {steps} steps |")
    print("|---|---|---|")
    for key in ("frame_depth", "frame_flow", "frame_warp", "frame_references"):
        ms = 1000 * stages.get(key, 0.0)
        print(f"| {key[6:]} | {ms:.1f} | {ms / (1000 * step_s * steps):.2%} |")
    print(
        f"| **all per-frame work** | **{1000 * frame_s:.1f}** | "
        f"**{frame_s / (step_s * steps):.2%}** |"
    )
    print(
        f"\nper-frame share at {steps} steps per frame: {frame_s / (step_s * steps):.2%} (goal <= 5%)"
    )


def print_cadence(r: Session, args, workdir) -> None:
    """Render the same animation at cadence 1 and at --cadence; print each one's wall time per
    output frame (the engine's snapshots, every frame saved; no files written), the best of
    CADENCE_ROUNDS interleaved renders."""
    frames = 4 * args.cadence + 1  # whole windows: key frames 0, N, 2N, 3N and 4N
    spf = args.steps_per_frame
    changes = dict(steps_per_scene=frames * spf, save_every=spf, display_every=0)
    cadences = tuple(dict.fromkeys((1, args.cadence)))
    results = {c: (float("inf"), 0) for c in cadences}  # -> (s per output frame, key frames)
    for _ in range(CADENCE_ROUNDS):  # interleaved, the best of each: load only adds time
        for cadence in cadences:
            session = build_session(args, workdir, r.perceptors[0], cadence=cadence, **changes)
            synchronize(session.device)
            start = time.perf_counter()
            made = sum(1 for snap in snapshots(session) if snap.save_number is not None)
            synchronize(session.device)
            per = min(results[cadence][0], (time.perf_counter() - start) / made)
            results[cadence] = (per, len(session.run_plan.clock.key_frames(cadence)))
    print(
        f"\ncadence, {args.animation}: {frames} frames of {spf} steps, wall time per output frame"
    )
    print("| cadence | frames optimised | s per output frame | vs cadence 1 |")
    print("|---|---|---|---|")
    for cadence, (per, keys) in results.items():
        print(f"| {cadence} | {keys} of {frames} | {per:.3f} | {per / results[1][0]:.2f} |")


if __name__ == "__main__":
    main()
