"""Procedural coloured-shape images and their captions, used to train and test the demo perceptor."""

import numpy as np

from ..errors import shown

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "cyan": (40, 210, 220),
    "magenta": (220, 40, 200),
    "orange": (245, 140, 20),
    "purple": (120, 40, 160),
    "white": (245, 245, 245),
    "black": (10, 10, 10),
}
SHAPES = ("circle", "square", "triangle", "stripes")
COLOUR_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in COLOUR_NAMES], dtype=np.float32)
_SQRT3 = np.sqrt(3.0)


def caption(shape, colour, background):
    """Return the caption of a drawing, e.g. 'a red circle on a blue background'."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shown(shape)}; allowed: {', '.join(SHAPES)}")
    for name in (colour, background):
        if name not in COLOURS:
            raise ValueError(f"unknown colour {shown(name)}; allowed: {', '.join(COLOUR_NAMES)}")
    if colour == background:
        raise ValueError(f"shape colour and background are both {shown(colour)}; they must differ")
    noun = "stripes" if shape == "stripes" else shape
    return f"a {colour} {noun} on a {background} background"


def all_labels():
    """Every valid (shape, colour, background) triple, in a fixed order."""
    return [(s, c, b) for s in SHAPES for c in COLOUR_NAMES for b in COLOUR_NAMES if c != b]


def draw(shape, colour, background, *, size=64, rng, colour_jitter=0.0):
    """Draw one anti-aliased image (uint8 HxWx3) of a randomly placed and scaled shape."""
    caption(shape, colour, background)  # validates the names
    images = draw_batch(
        np.array([SHAPES.index(shape)]),
        np.array([COLOUR_NAMES.index(colour)]),
        np.array([COLOUR_NAMES.index(background)]),
        size=size,
        rng=rng,
        colour_jitter=colour_jitter,
    )
    return images[0]


def draw_batch(shape_ids, colour_ids, background_ids, *, size=64, rng, colour_jitter=0.0):
    """Draw n images (uint8 n x H x W x 3) at once from index arrays into SHAPES and COLOUR_NAMES."""
    shape_ids = np.asarray(shape_ids)
    n = len(shape_ids)
    coverage = _coverage(shape_ids, n, size, rng)[..., None]
    fg = _jittered(_PALETTE[np.asarray(colour_ids)], rng, colour_jitter)[:, None, None, :]
    bg = _jittered(_PALETTE[np.asarray(background_ids)], rng, colour_jitter)[:, None, None, :]
    image = bg + (fg - bg) * coverage
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _jittered(rgb, rng, amount):
    """Perturb colours by Gaussian noise of `amount` (fraction of 255) so names cover a range of tints."""
    if amount <= 0:
        return rgb
    return np.clip(rgb + rng.normal(0.0, amount * 255.0, rgb.shape), 0, 255)


def _coverage(shape_ids, n, size, rng):
    """Per-pixel shape coverage in [0, 1] from signed distances (analytic anti-aliasing)."""
    # Draw every random number for every image, whatever its shape, so the stream stays aligned.
    half = rng.uniform(0.12, 0.4, n) * size
    margin = 0.7 * half
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    angle = rng.uniform(-0.3, 0.3, n)
    stripe_angle = rng.uniform(0.0, np.pi, n)
    period = rng.uniform(0.14, 0.3, n) * size
    phase = rng.uniform(0.0, 1.0, n)
    coords = np.arange(size, dtype=np.float32) + 0.5
    x = coords[None, None, :] - cx[:, None, None]
    y = coords[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * x + sin * y, -sin * x + cos * y
    r = half[:, None, None]
    distance = np.stack(
        [
            np.sqrt(x * x + y * y) - r,
            _box_distance(u, v, 0.85 * r),
            _triangle_distance(u, v, 1.15 * r),
            _stripe_distance(x, y, stripe_angle, period, phase),
        ]
    )
    chosen = distance[shape_ids, np.arange(n)]
    return np.clip(0.5 - chosen, 0.0, 1.0)


def _box_distance(u, v, half_side):
    """Signed distance to an axis-aligned square of the given half side."""
    du, dv = np.abs(u) - half_side, np.abs(v) - half_side
    outside = np.sqrt(np.maximum(du, 0) ** 2 + np.maximum(dv, 0) ** 2)
    return outside + np.minimum(np.maximum(du, dv), 0)


def _triangle_distance(u, v, radius):
    """Signed distance (exact for inside, bounded outside) to an upward equilateral triangle."""
    # Image y points down, so the apex sits at v = -radius; three half-plane distances.
    edge_a = (_SQRT3 * u - v) / 2 - radius / 2
    edge_b = (-_SQRT3 * u - v) / 2 - radius / 2
    edge_c = v - radius / 2
    return np.maximum(np.maximum(edge_a, edge_b), edge_c)


def _stripe_distance(x, y, angle, period, phase):
    """Signed distance to parallel stripes (half duty cycle) filling the image."""
    direction = np.cos(angle)[:, None, None] * x + np.sin(angle)[:, None, None] * y
    p = period[:, None, None]
    t = np.mod(direction + phase[:, None, None] * p, p)
    return np.abs(t - p / 2) - p / 4
