"""Camera motion settings: parsed once, checked at every frame of the run, evaluated per frame.

PyTTI's units: 2D translations and zooms are pixels of the image's own grid (width x height,
before pixel_size) per frame, rotations degrees per frame. 3D translations and the depth range
are in output pixels, the units of a point at the camera's focal distance; motion values may
use the frame's depth range r (nearest), R (farthest) and mu (typical depth), in pixels.
"""

import math

from ..errors import ExpressionError, PyttiError
from ..schedules import parse_time_value, parse_time_vector

MOTION_2D = ("translate_x", "translate_y", "rotate_2d", "zoom_x_2d", "zoom_y_2d")
MOTION_3D = ("translate_x", "translate_y", "translate_z_3d", "rotate_3d")
DEPTH_NAMES = ("r", "R", "mu")


def motion_names(mode: str) -> tuple[str, ...]:
    """The motion settings a mode uses."""
    return {"2D": MOTION_2D, "3D": MOTION_3D}.get(mode, ())


def parse_motion(settings, problems: list, names=("t",)) -> dict:
    """Parse the motion settings of the run's mode: name -> TimeValue (or 4 for rotate_3d).

    `names` are the variables of every expression (t, audio bands); 3D adds r, R and mu.
    """
    mode = settings.animation_mode
    names = (*names, *DEPTH_NAMES) if mode == "3D" else tuple(names)
    out = {}
    for name in motion_names(mode):
        text, where = getattr(settings, name), f"setting {name!r}"
        try:
            if name == "rotate_3d":
                out[name] = parse_time_vector(text, 4, names=names, where=where)
            else:
                out[name] = parse_time_value(text, names=names, where=where)
        except PyttiError as e:
            problems.append(f"{name}: {e}")
    return out


def focal_length(height: float, field_of_view: float) -> float:
    """Focal length in pixels of a camera whose image is `height` pixels tall."""
    return (height / 2) / math.tan(math.radians(field_of_view) / 2)


def typical_depths(settings, output_height: int) -> dict:
    """Depth range values r, R, mu that validation evaluates 3D motion with.

    A depth model maps the scene into [near_plane, far_plane]; without one (depth_model none)
    the scene is a plane at the focal distance.
    """
    if settings.depth_model.strip().lower() == "none":
        flat = focal_length(output_height, settings.field_of_view)
        return {"r": flat, "R": flat, "mu": flat}
    near, far = settings.near_plane, settings.far_plane
    return {"r": near, "R": far, "mu": (near + far) / 2}


def evaluate(motion: dict, ctx, depths: dict | None = None) -> dict:
    """The motion values at a frame start: name -> float (rotate_3d -> a 4-tuple)."""
    extra = {**ctx.variables, **(depths or {})}
    out = {}
    for name, value in motion.items():
        if isinstance(value, tuple):
            out[name] = tuple(v(ctx.t, ctx.position, **extra) for v in value)
        else:
            out[name] = value(ctx.t, ctx.position, **extra)
    return out


def check_motion_over_run(clock, motion: dict, depths: dict, problems: list) -> None:
    """Evaluate every motion value at every frame start; report the first failure of each."""
    failed = set()
    for frame in range(clock.frames):
        ctx = clock.at(clock.frame_start_step(frame))
        for name, value in motion.items():
            if name in failed:
                continue
            try:
                result = evaluate({name: value}, ctx, depths)[name]
            except ExpressionError as e:
                failed.add(name)
                problems.append(f"{name}: {e} (at frame {frame}, t={ctx.t:g})")
                continue
            numbers = result if isinstance(result, tuple) else (result,)
            if not all(math.isfinite(v) for v in numbers):
                failed.add(name)
                problems.append(
                    f"{name}: evaluates to {result} at frame {frame} (t={ctx.t:g}); every "
                    "motion value must be a finite number"
                )
            elif isinstance(result, tuple) and not any(numbers):
                failed.add(name)
                problems.append(
                    f"{name}: the quaternion is [0, 0, 0, 0] at frame {frame} (t={ctx.t:g}); "
                    "a rotation needs a non-zero quaternion, e.g. [1, 0, 0, 0] for none"
                )
