"""Turn Settings into a checked RunPlan: every prompt, expression and file is validated here,
before any model loads or any GPU time is spent."""

from dataclasses import dataclass
from pathlib import Path

from .engine.clock import Clock
from .errors import PyttiError, SettingsError
from .images import check_image_file
from .schema import TIME_KINDS, WEIGHT_KINDS, Settings, schema

MAX_OUTPUT_PIXELS = 4096 * 4096
MIN_OUTPUT_SIDE = 8
INIT_WEIGHTS = ("direct_init_weight", "semantic_init_weight")
NO_VIDEO_MASKS = (
    "video masks need the Video Source animation mode, which pytti_nb does not have yet"
)


@dataclass(frozen=True)
class RunPlan:
    """Parsed, checked settings: what the engine runs."""

    settings: Settings
    scenes: tuple  # tuple[prompts.Scene, ...]
    direct_prompts: tuple  # tuple[prompts.DirectImagePrompt, ...]
    schedules: dict  # setting name -> TimeValue, for every setting of a time kind
    weights: dict  # setting name -> prompts.TargetWeight, for init and stabilisation weights
    motion: dict  # motion setting of the animation mode -> TimeValue (rotate_3d: four)
    off: frozenset  # names of the schedules and weights that are zero at every step
    width: int  # parameter pixels
    height: int
    clock: Clock

    @property
    def total_steps(self) -> int:
        """Steps in the whole run."""
        return self.clock.total_steps

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the rendered image in pixels."""
        return self.width * self.settings.pixel_size, self.height * self.settings.pixel_size

    def image_files(self) -> list[tuple[str, str]]:
        """(path, 'rgb' or 'gray') of every image the run reads: init, prompts and masks."""
        files = [(self.settings.init_image, "rgb")] if self.settings.init_image else []
        for path, where in _referenced_files(self.scenes, self.direct_prompts, self.weights):
            files.append((path, "gray" if where.startswith("mask") else "rgb"))
        return files


def plan(settings: Settings, *, check_models: bool = True) -> RunPlan:
    """Check everything that can be checked without models; raise one SettingsError listing all.

    check_models=False skips whether the perceptors and the depth model can be had (a file
    lookup, or a network probe when a model is not downloaded yet): for previews that re-plan
    on every edit.
    """
    from .animation.motion import parse_motion
    from .output import validate_namespace
    from .perceptors import check_perceptor_spec
    from .prompts import parse_direct_image_prompts, parse_scenes, parse_target_weight
    from .schedules import parse_time_value

    s, problems = settings, []

    def attempt(label, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PyttiError as e:
            problems.append(f"{label}: {e}" if label else str(e))
            return None

    scenes = attempt("scenes", parse_scenes, s.scenes, s.scene_prefix, s.scene_suffix) or ()
    direct = (
        attempt("direct_image_prompts", parse_direct_image_prompts, s.direct_image_prompts) or ()
    )
    schedules, weights = {}, {}
    for info in schema():
        text, where = getattr(s, info.name), f"setting {info.name!r}"
        if info.kind in TIME_KINDS:
            schedules[info.name] = attempt(info.name, parse_time_value, text, where=where)
        elif info.kind in WEIGHT_KINDS:
            pixel = info.kind == "pixel_weight"
            weights[info.name] = attempt(info.name, parse_target_weight, text, pixel=pixel)
    motion = parse_motion(s, problems)
    for spec in s.perceptors if check_models else ():
        attempt("perceptors", check_perceptor_spec, spec, cache_dir=s.models_cache_dir or None)
    attempt("file_namespace", validate_namespace, s.file_namespace)
    cache = Path(s.models_cache_dir).expanduser() if s.models_cache_dir else None
    if cache is not None and cache.exists() and not cache.is_dir():
        problems.append(
            f"models_cache_dir: {s.models_cache_dir!r} is a file; give a folder "
            "(it is created if missing) or leave it empty for open_clip's cache"
        )
    init_size = (
        attempt("init_image", check_image_file, s.init_image, "init_image")
        if s.init_image
        else None
    )
    for mask, where in _masks(scenes, direct, weights):
        if mask.kind == "video":
            problems.append(f"{where}: {NO_VIDEO_MASKS}")
    for path, where in _referenced_files(scenes, direct, weights):
        attempt(None, check_image_file, path, where)  # its message names `where`
    width, height = _resolve_size(s, init_size, problems)
    if s.cutouts % s.gradient_accumulation_steps:
        problems.append(
            f"gradient_accumulation_steps: {s.gradient_accumulation_steps} does not "
            f"divide cutouts ({s.cutouts}); pick a divisor of {s.cutouts}"
        )
    clock = Clock.of(s, len(scenes))
    off = _check_expressions_over_run(clock, scenes, direct, schedules, weights, problems)
    init_weights = [n for n in INIT_WEIGHTS if n not in off]
    if init_weights and not s.init_image:
        problems.append(
            f"init_image: {' and '.join(init_weights)} {'is' if len(init_weights) == 1 else 'are'}"
            " set but init_image is empty; give an image or set the weight to 0"
        )
    _check_animation(s, clock, motion, off, height * s.pixel_size, problems, check_models)
    if problems:
        raise SettingsError(problems)
    return RunPlan(
        s, tuple(scenes), tuple(direct), schedules, weights, motion, off, width, height, clock
    )


def _check_animation(s, clock, motion, off, output_height, problems, check_models):
    """The camera, the depth model and the motion values at every frame of the run."""
    from .animation.motion import check_motion_over_run, typical_depths
    from .models.depth import check_depth_model, is_flat

    before = len(problems)
    if s.animation_mode == "3D":
        if not 0 < s.field_of_view < 180:
            problems.append(
                f"field_of_view: {s.field_of_view:g} degrees is not a camera's; give a value "
                "between 0 and 180 (exclusive), e.g. 60"
            )
        if not 0 < s.near_plane < s.far_plane:
            problems.append(
                f"near_plane/far_plane: {s.near_plane:g} and {s.far_plane:g}; the near plane "
                "must be above 0 and below the far plane (PyTTI's defaults are 1 and 10000)"
            )
    needs_depth = s.animation_mode == "3D" or "depth_stabilization_weight" not in off
    if "depth_stabilization_weight" not in off and is_flat(s.depth_model):
        problems.append(
            "depth_stabilization_weight: compares depth maps, which needs a depth model; "
            "depth_model is none (set a model, or the weight to 0)"
        )
    elif needs_depth and check_models:
        try:
            check_depth_model(s.depth_model, s.models_cache_dir or None)
        except PyttiError as e:
            problems.append(f"depth_model: {e}")
    if len(problems) > before:
        return  # the motion check needs a sound camera and depth model
    depths = typical_depths(s, output_height) if s.animation_mode == "3D" else {}
    check_motion_over_run(clock, motion, depths, problems)


def plan_dict(data: dict, *, source: str = "settings") -> RunPlan:
    """Plan from a raw mapping, reporting type errors and whole-run problems in one list."""
    from .settings import from_dict_lenient

    settings, problems = from_dict_lenient(data, source=source)
    try:
        result = plan(settings)
    except SettingsError as e:
        # skip what the lenient defaults caused: those keys are already reported
        bad = {p.split(":", 1)[0] for p in problems}
        problems += [p for p in e.problems if p.split(":", 1)[0] not in bad]
    if problems:
        raise SettingsError(problems)
    return result


def _masks(scenes, direct, weights):
    """(Mask, label) of every mask in the prompts and weight settings."""
    for scene in scenes:
        for p in scene.prompts:
            yield p.mask, f"mask of prompt {p.source!r}"
    for d in direct:
        yield d.mask, f"mask of direct image prompt {d.source!r}"
    for name, weight in weights.items():
        if weight is not None:
            yield weight.mask, f"mask of {name}"


def _referenced_files(scenes, direct, weights):
    """(path, label) of every image file named in the prompts and weights."""
    for scene in scenes:
        for p in scene.prompts:
            if p.image:
                yield p.image, f"image prompt {p.source!r}"
    for d in direct:
        yield d.path, f"direct image prompt {d.source!r}"
    for mask, where in _masks(scenes, direct, weights):
        if mask.kind == "image":
            yield mask.path, where


def _resolve_size(s, init_size, problems):
    """Parameter width and height, deriving -1 from the init image's aspect ratio."""
    width, height = s.width, s.height
    if 0 in (width, height):
        problems.append("width/height: 0 is not a size; use a positive number or -1")
        return 1, 1
    if -1 in (width, height):
        if init_size is None:
            problems.append(
                "width/height: -1 takes the size from init_image, but init_image "
                "is empty; give both sizes or an init_image"
            )
            return 1, 1
        iw, ih = init_size
        if width == -1 and height == -1:
            width, height = iw // s.pixel_size, ih // s.pixel_size
        elif width == -1:
            width = max(1, round(height * iw / ih))
        else:
            height = max(1, round(width * ih / iw))
    ow, oh = width * s.pixel_size, height * s.pixel_size
    if ow * oh > MAX_OUTPUT_PIXELS:
        problems.append(
            f"width/height/pixel_size: the output would be {ow}x{oh} pixels, more "
            f"than the {MAX_OUTPUT_PIXELS:,} allowed; lower width, height or "
            "pixel_size"
        )
    if min(ow, oh) < MIN_OUTPUT_SIDE:
        problems.append(
            f"width/height/pixel_size: the output would be {ow}x{oh} pixels; each "
            f"side needs at least {MIN_OUTPUT_SIDE}"
        )
    return width, height


def _check_expressions_over_run(clock, scenes, direct, schedules, weights, problems):
    """Evaluate every time value at every step of the run, so none fails mid-render.

    Returns the names of the schedule and weight settings that are zero at every step (off for
    the run).
    """
    from .schedules import check_time_value

    samples = clock.samples()
    values = [(v, f"setting {name!r}", False, name) for name, v in schedules.items()]
    for name, w in weights.items():
        if w is not None:
            values += [
                (w.weight, f"weight of {name}", False, name),
                (w.stop, f"stop of {name}", True, None),
            ]
    for scene in scenes:
        for pr in scene.prompts:
            values += [
                (pr.weight, f"weight of prompt {pr.source!r}", False, None),
                (pr.stop, f"stop of prompt {pr.source!r}", True, None),
            ]
            if pr.mask.cutoff is not None:
                where = f"mask cutoff of prompt {pr.source!r}"
                values.append((pr.mask.cutoff, where, False, None))
    for d in direct:
        values += [
            (d.weight, f"weight of {d.source!r}", False, None),
            (d.stop, f"stop of {d.source!r}", True, None),
        ]
    off = set()
    for value, where, allow_inf, name in values:
        if value is None:
            continue  # it failed to parse; that is reported already
        try:
            if check_time_value(value, samples, where, allow_inf=allow_inf) and name:
                off.add(name)
        except PyttiError as e:
            problems.append(str(e))
    return frozenset(off)
