"""Zero-shot accuracy of the bundled `demo` perceptor on held-out drawn shapes, as a markdown table.

Each held-out image (fixed seed, unseen placements) is classified three times: its shape colour is
the best-matching caption among those varying only the shape colour (shape and background at their
true values), and likewise for the shape and for the background colour. Chance is 1/9, 1/4 and 1/9.
Usage: python tools/eval_demo_perceptor.py [--images N]
"""

import argparse
import sys
from pathlib import Path

import torch

# Run as a plain script from a checkout: make the repository's package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytti_nb import demo  # noqa: E402
from pytti_nb.models import ModelCache  # noqa: E402


def evaluate(n_images, batch=500):
    """Return per-attribute accuracy of the demo perceptor on n held-out images."""
    perceptor = ModelCache().perceptor("demo", device="cpu", precision="fp32")
    images, labels = demo.heldout_images(n_images)
    captions, _ = demo.caption_table()
    image_emb = torch.cat(
        [perceptor.encode_images_reference(chunk) for chunk in images.split(batch)]
    )
    return demo.zero_shot_accuracy(image_emb, perceptor.encode_text(captions), labels)


def main(argv=None):
    """Print the accuracy table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be at least 1")
    accuracy = evaluate(args.images)
    print(f"Zero-shot accuracy of `demo` on {args.images} held-out drawn images:\n")
    print("| attribute | accuracy | chance |")
    print("|---|---|---|")
    chance = {"shape colour": "11%", "shape": "25%", "background": "11%"}
    for name, value in accuracy.items():
        print(f"| {name} | {100 * value:.1f}% | {chance[name]} |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
