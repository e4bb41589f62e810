"""Camera motion settings: parsed once, checked at every frame of the run, evaluated per frame.

PyTTI's units: 2D translations and zooms are pixels of the image's own grid (width x height,
before pixel_size) per frame, rotations degrees per frame. 3D translations and the depth range
are in output pixels, the units of a point at the camera's focal distance; motion values may
use the frame's depth range r (nearest), R (farthest) and mu (typical depth), in pixels.

The depth range has PyTTI's meaning (how far the scene is, from AdaBins' metres) only where
depth is metric: a metric depth model, or depth_model none (a plane at the focal distance). A
relative model's depth is rescaled every frame to span 1-10 m, so r and R would be constants
and mu nearly one: motion that reads them is refused (relative_depth_problems).
"""

import math

from ..config.schema import motion_names
from ..errors import ExpressionError, PyttiError, RenderHalted, shown
from ..lang.schedules import parse_time_value, parse_time_vector
from ..models.depth_config import METRIC_EXAMPLE

MAX_MOTION = 1e9  # largest motion value (pixels, degrees, quaternion component) at any frame
DEPTH_NAMES = ("r", "R", "mu")


MOTION_2D = motion_names("2D")
MOTION_3D = motion_names("3D")


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


def depth_ranges(settings, output_height: int) -> list[dict]:
    """Every depth range (r, R, mu) validation evaluates 3D motion with: the typical one and
    the extremes a depth model can give (r <= mu <= R, each in [near_plane, far_plane]), so a
    value that depends on depth is checked over every depth it can meet."""
    typical = typical_depths(settings, output_height)
    if settings.depth_model.strip().lower() == "none":
        return [typical]
    near, far = settings.near_plane, settings.far_plane
    corners = [(near, near, near), (near, near, far), (near, far, far), (far, far, far)]
    return [typical, *({"r": r, "mu": mu, "R": big_r} for r, mu, big_r in corners)]


def unit_quaternion(quaternion) -> tuple[float, ...] | None:
    """A quaternion scaled to unit length, or None when it is zero (no rotation at all).
    Scaling by its largest component first keeps tiny (1e-300) and huge components exact."""
    largest = max(abs(q) for q in quaternion)
    if largest == 0 or not math.isfinite(largest):
        return None
    scaled = [q / largest for q in quaternion]
    norm = math.sqrt(sum(q * q for q in scaled))
    return tuple(q / norm for q in scaled)


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


def check_motion_over_run(clock, motion: dict, depths, problems: list) -> None:
    """Evaluate every motion value at every frame start (a value that reads r, R or mu at
    each of the depth ranges `depths`, a dict or a list of them); report the first failure of
    each."""
    ranges = [depths] if isinstance(depths, dict) else list(depths) or [{}]
    sets = {name: ranges if _reads_depth(value) else ranges[:1] for name, value in motion.items()}
    failed = set()
    for frame in range(clock.frames):
        ctx = clock.at(clock.frame_start_step(frame))
        for name, value in motion.items():
            for depth in sets[name] if name not in failed else ():
                problem = _problem(name, value, ctx, depth, frame)
                if problem:
                    failed.add(name)
                    problems.append(problem)
                    break


def _reads_depth(value) -> bool:
    """Whether a motion value (or any of a quaternion's) reads r, R or mu."""
    return bool(depth_names_read(value))


def depth_names_read(value) -> list[str]:
    """Which of r, R and mu a motion value (or any of a quaternion's) reads."""
    values = value if isinstance(value, tuple) else (value,)
    used = set().union(*(getattr(v, "names_used", DEPTH_NAMES) for v in values))
    return [name for name in DEPTH_NAMES if name in used]


def relative_depth_problems(settings, motion: dict) -> list[str]:
    """Why each motion value that reads r, R or mu cannot, its depth being relative: a relative
    model's depth spans 1-10 m at every frame, so the range says nothing about the scene."""
    problems = []
    for name, value in motion.items():
        used = depth_names_read(value)
        if used:
            problems.append(
                f"{name}: {shown(getattr(settings, name))} reads {', '.join(used)} (the frame's "
                f"depth range), but depth_model {shown(settings.depth_model)} gives relative "
                "depth, rescaled every frame to span 1 to 10 m, so r, R and mu would be nearly "
                "the same at every frame; allowed: a metric depth model (depth_estimation_type "
                f"metric, e.g. {METRIC_EXAMPLE}), depth_model none (a plane at the focal "
                "distance), or motion without r, R and mu"
            )
    return problems


def _problem(name, value, ctx, depth, frame) -> str | None:
    """What is wrong with a motion value at a frame and depth range, or None."""
    at = f"frame {frame}, t={ctx.t:g}" + "".join(f", {k}={v:g}" for k, v in depth.items())
    try:
        result = evaluate({name: value}, ctx, depth)[name]
    except ExpressionError as e:
        return f"{name}: {e} (at {at})"
    return motion_problem(name, result, at)


def motion_problem(name: str, result, at: str) -> str | None:
    """Why a motion value cannot move the camera (not finite, a zero quaternion), or None."""
    numbers = result if isinstance(result, tuple) else (result,)
    if not all(math.isfinite(v) for v in numbers):
        return f"{name}: evaluates to {result} at {at}; every motion value must be a finite number"
    if isinstance(result, tuple) and unit_quaternion(result) is None:
        return (
            f"{name}: the quaternion is [0, 0, 0, 0] at {at}; a rotation needs a non-zero "
            "quaternion, e.g. [1, 0, 0, 0] for none"
        )
    return None


def checked(values: dict, frame: int) -> dict:
    """Motion values about to move the camera at render time; RenderHalted, naming the value,
    if one is not finite or beyond ±MAX_MOTION (validation checks the range a depth model
    gives; a value can still escape it between the extremes it checks)."""
    for name, result in values.items():
        problem = motion_problem(name, result, f"frame {frame}")
        numbers = result if isinstance(result, tuple) else (result,)
        if problem is None and max(map(abs, numbers)) > MAX_MOTION:
            problem = (
                f"{name}: reaches {max(map(abs, numbers)):.3g} at frame {frame}; a motion value "
                f"must stay within ±{MAX_MOTION:g} (pixels or degrees per frame)"
            )
        if problem:
            raise RenderHalted(problem)
    return values
