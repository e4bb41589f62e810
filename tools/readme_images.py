"""Make the README's pictures from `make demo`'s output: python tools/readme_images.py [OUT].

docs/cadence.png comes from examples/cadence.yaml rendered into the same OUT, when it is there:
`python -m pytti_nb render examples/cadence.yaml --set output_root=OUT`."""

import sys
from pathlib import Path

from PIL import Image, ImageDraw

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


def _metadata(path) -> dict:
    """A saved PNG's metadata (its frame, whether it was a key frame, ...)."""
    sys.path.insert(0, str(DOCS.parent))
    from pytti_nb.io.png_meta import read_png_metadata

    return read_png_metadata(path)


def _frame(path) -> int:
    """The animation frame a saved PNG shows (-1 before the animation starts)."""
    return _metadata(path)["frame"]


def labelled_strip(paths, labels, side=120, band=22) -> Image.Image:
    """Frames side by side, each over a band naming it (dark: a key frame)."""
    sheet = Image.new("RGB", (len(paths) * (side + GAP) - GAP, side + band), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (path, (text, key)) in enumerate(zip(paths, labels, strict=True)):
        x = i * (side + GAP)
        frame = Image.open(path).convert("RGB").resize((side, side), Image.NEAREST)
        sheet.paste(frame, (x, 0))
        draw.rectangle((x, side, x + side - 1, side + band - 1), fill="#222" if key else "#ddd")
        draw.text((x + 6, side + 5), text, fill="white" if key else "black")
    return sheet


def cadence_strip(out: Path) -> None:
    """docs/cadence.png: the first two cadence windows of examples/cadence.yaml, key frames
    and the frames made between them."""
    frames = {}
    for path in sorted((out / "cadence" / "frames").glob("*.png")):
        meta = _metadata(path)
        if 0 <= meta["frame"] <= 8:
            frames[meta["frame"]] = (path, meta["key_frame"])
    paths = [frames[f][0] for f in sorted(frames)]
    labels = [
        (f"{f}: key" if frames[f][1] else f"{f}: between", frames[f][1]) for f in sorted(frames)
    ]
    labelled_strip(paths, labels).save(DOCS / "cadence.png", optimize=True)


def main(out="out") -> None:
    """docs/demo.png: the last frame of each demo scene; docs/animation-2d.png: five frames."""
    out = Path(out)
    demo = sorted((out / "demo" / "frames").glob("*.png"))
    strip([demo[len(demo) // 2 - 1], demo[-1]]).save(DOCS / "demo.png", optimize=True)
    animation = sorted((out / "animation-2d" / "frames").glob("*.png"))
    animation = [p for p in animation if _frame(p) >= 0]  # from the first warp on
    picks = [animation[round(i * (len(animation) - 1) / 4)] for i in range(5)]
    strip(picks).save(DOCS / "animation-2d.png", optimize=True)
    if (out / "cadence" / "frames").is_dir():
        cadence_strip(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
