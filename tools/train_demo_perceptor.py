"""Train the bundled `demo` perceptor: a tiny open_clip CLIP on procedurally drawn coloured shapes.

Seeded and reproducible on CPU (same torch version and thread count give the same weights).
Writes pytti_nb/demo/model/{open_clip_config.json, open_clip_model.safetensors} (fp16, ~8 MB).
Usage: python tools/train_demo_perceptor.py [--steps N] [--threads T] [--out DIR]
"""

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from safetensors.torch import save_file

# Run as a plain script from a checkout: make the repository's package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytti_nb import demo  # noqa: E402
from pytti_nb.demo import shapes  # noqa: E402
from pytti_nb.perception.clip_config import CONFIG_NAME  # noqa: E402

MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 128, "layers": 4, "head_width": 64},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}
PREPROCESS_CFG = {
    "mean": list(OPENAI_DATASET_MEAN),
    "std": list(OPENAI_DATASET_STD),
    "interpolation": "bilinear",
}
SIZE = MODEL_CFG["vision_cfg"]["image_size"]


def parse_args():
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="defaults to the package's demo/model folder"
    )
    return parser.parse_args()


def write_config(folder):
    """Write open_clip_config.json so the model loads with open_clip's `local-dir:` schema."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")


def sample_batch(rng, batch, tokens):
    """Draw a batch of images with distinct captions; returns (images [b,3,s,s] in [0,1], tokens)."""
    _, table = demo.caption_table()
    valid = np.argwhere(table >= 0)
    # Distinct captions: duplicates would be false negatives in the contrastive loss.
    chosen = rng.choice(len(valid), size=batch, replace=False)
    labels = valid[chosen]
    images = shapes.draw_batch(
        labels[:, 0], labels[:, 1], labels[:, 2], size=SIZE, rng=rng, colour_jitter=0.06
    )
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return x, tokens[table[labels[:, 0], labels[:, 1], labels[:, 2]]]


def augment(x, gen):
    """Cutout-like augmentation: faded contrast, random crops/zoom, flips, small rotation, noise."""
    n = x.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    fade = torch.where(rand(n) < 0.3, 0.25 + 0.75 * rand(n), torch.ones(n))[:, None, None, None]
    x = 0.5 + fade * (x - 0.5)
    # Half the batch is cropped to 35-100% of the side and resized back, like the engine's cutouts.
    scale = torch.where(rand(n) < 0.5, 0.35 + 0.65 * rand(n), torch.ones(n))
    shift = (1 - scale) * (2 * rand(2, n) - 1)
    angle = 0.2 * (2 * rand(n) - 1)
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[0]], 1), torch.stack([sin * flip, cos, shift[1]], 1)],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    noise = torch.randn(x.shape, generator=gen) * (0.1 * rand(n))[:, None, None, None]
    return x + noise


def normalise(x):
    """CLIP mean/std normalisation."""
    mean = torch.tensor(OPENAI_DATASET_MEAN)[None, :, None, None]
    std = torch.tensor(OPENAI_DATASET_STD)[None, :, None, None]
    return (x - mean) / std


def learning_rate(step, steps, peak):
    """Linear warm-up over 5% of the steps, then cosine decay to zero."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train(model, tokens, args):
    """Run the contrastive training loop; returns the trained model."""
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "token_embedding" not in n]
    rest = [
        p for n, p in model.named_parameters() if not (p.ndim >= 2 and "token_embedding" not in n)
    ]
    groups = [{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    targets = torch.arange(args.batch)
    start = time.time()
    model.train()
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        x, text = sample_batch(rng, args.batch, tokens)
        image_emb = F.normalize(model.encode_image(normalise(augment(x, gen))), dim=-1)
        text_emb = F.normalize(model.encode_text(text), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image_emb @ text_emb.T
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(
                f"step {step:5d}  loss {loss.item():.3f}  {time.time() - start:6.0f}s", flush=True
            )
    return model.eval()


def evaluate(model, tokens, n=1000):
    """Zero-shot accuracy per attribute on held-out drawn images."""
    images, labels = demo.heldout_images(n)
    with torch.no_grad():
        image_emb = F.normalize(model.encode_image(normalise(images)), dim=-1)
        text_emb = F.normalize(model.encode_text(tokens), dim=-1)
    return demo.zero_shot_accuracy(image_emb, text_emb, labels)


def main():
    """Train, evaluate and write the fp16 demo perceptor."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = args.out or Path(str(demo.model_dir()))
    with tempfile.TemporaryDirectory() as scratch:
        write_config(Path(scratch))
        # Building through `local-dir:` checks the config loads exactly as the perceptor will.
        model = open_clip.create_model(f"local-dir:{scratch}")
        tokenizer = open_clip.get_tokenizer(f"local-dir:{scratch}")
    captions, _ = demo.caption_table()
    tokens = tokenizer(captions)
    model = train(model, tokens, args)
    print("held-out zero-shot accuracy:", evaluate(model, tokens))
    write_config(out)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / demo.WEIGHTS_NAME))
    print(f"wrote {out} ({(out / demo.WEIGHTS_NAME).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
