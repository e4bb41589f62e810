"""Make the README's pictures from `make demo`'s output: python tools/readme_images.py [OUT]."""

import sys
from pathlib import Path

from PIL import Image

SIDE = 240  # each frame is enlarged (nearest) to this size
GAP = 10
DOCS = Path(__file__).resolve().parent.parent / "docs"


def strip(paths, columns=None) -> Image.Image:
    """Frames side by side on white, enlarged without smoothing so their pixels stay visible."""
    frames = [Image.open(p).convert("RGB").resize((SIDE, SIDE), Image.NEAREST) for p in paths]
    sheet = Image.new("RGB", (len(frames) * (SIDE + GAP) - GAP, SIDE), "white")
    for i, frame in enumerate(frames):
        sheet.paste(frame, (i * (SIDE + GAP), 0))
    return sheet


def _frame(path) -> int:
    """The animation frame a saved PNG shows (-1 before the animation starts)."""
    sys.path.insert(0, str(DOCS.parent))
    from pytti_nb.io.png_meta import read_png_metadata

    return read_png_metadata(path)["frame"]


def main(out="out") -> None:
    """docs/demo.png: the last frame of each demo scene; docs/animation-2d.png: five frames."""
    out = Path(out)
    demo = sorted((out / "demo" / "frames").glob("*.png"))
    strip([demo[len(demo) // 2 - 1], demo[-1]]).save(DOCS / "demo.png", optimize=True)
    animation = sorted((out / "animation-2d" / "frames").glob("*.png"))
    animation = [p for p in animation if _frame(p) >= 0]  # from the first warp on
    picks = [animation[round(i * (len(animation) - 1) / 4)] for i in range(5)]
    strip(picks).save(DOCS / "animation-2d.png", optimize=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
