"""The tiny render the tests build on: a second or two on the CPU with the demo perceptor."""

TINY = {
    "scenes": "a red circle on a black background",
    "perceptors": ["demo"],
    "width": 12,
    "height": 12,
    "pixel_size": 4,
    "cutouts": 4,
    "steps_per_scene": 12,
    "save_every": 4,
    "display_every": 2,
    "seed": 1,
    "learning_rate": 0.1,
    "file_namespace": "run",
    "device": "cpu",
}
SMALLER = {"scenes": "a red circle", "width": 8, "height": 8, "pixel_size": 2, "cutouts": 2}


def tiny_settings(*, smaller=False, drop=(), **changes) -> dict:
    """The tiny settings (8x8 with two cutouts when `smaller`), without `drop`, with changes."""
    base = {**TINY, **(SMALLER if smaller else {})}
    return {k: v for k, v in {**base, **changes}.items() if k not in drop}
