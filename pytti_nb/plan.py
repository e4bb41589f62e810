"""Turn Settings into a checked RunPlan: every prompt, expression and file is validated here,
before any model loads or any GPU time is spent."""

from dataclasses import dataclass
from pathlib import Path

from .engine.clock import Clock
from .errors import PyttiError, SettingsError
from .images import check_image_file
from .schema import TIME_KINDS, Settings, schema

MAX_OUTPUT_PIXELS = 4096 * 4096
MIN_OUTPUT_SIDE = 8


@dataclass(frozen=True)
class RunPlan:
    """Parsed, checked settings: what the engine runs."""

    settings: Settings
    scenes: tuple  # tuple[prompts.Scene, ...]
    direct_prompts: tuple  # tuple[prompts.DirectImagePrompt, ...]
    schedules: dict  # setting name -> TimeValue, for every setting of a time kind
    off: frozenset  # names of the schedules that are zero at every step of the run
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
        for path, where in _referenced_files(self.scenes, self.direct_prompts):
            files.append((path, "gray" if where.startswith("mask") else "rgb"))
        return files


def plan(settings: Settings) -> RunPlan:
    """Check everything that can be checked without models; raise one SettingsError listing all."""
    from .output import validate_namespace
    from .perceptors import check_perceptor_spec
    from .prompts import parse_direct_image_prompts, parse_scenes
    from .schedules import parse_time_value

    s, problems = settings, []

    def attempt(label, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PyttiError as e:
            problems.append(f"{label}: {e}")
            return None

    scenes = attempt("scenes", parse_scenes, s.scenes, s.scene_prefix, s.scene_suffix) or ()
    direct = (
        attempt("direct_image_prompts", parse_direct_image_prompts, s.direct_image_prompts) or ()
    )
    schedules = {
        info.name: attempt(
            info.name, parse_time_value, getattr(s, info.name), where=f"setting {info.name!r}"
        )
        for info in schema()
        if info.kind in TIME_KINDS
    }
    for spec in s.perceptors:
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
    for scene in scenes:
        for pr in scene.prompts:
            if pr.mask.kind == "video":
                problems.append(
                    f"mask of prompt {pr.source!r}: video masks need the Video "
                    "Source animation mode, which pytti_nb does not have yet"
                )
    for d in direct:
        if d.mask.kind == "video":
            problems.append(
                f"mask of direct image prompt {d.source!r}: video masks need the "
                "Video Source animation mode, which pytti_nb does not have yet"
            )
    for path, where in _referenced_files(scenes, direct):
        attempt(where, check_image_file, path, where)
    width, height = _resolve_size(s, init_size, problems)
    if s.cutouts % s.gradient_accumulation_steps:
        problems.append(
            f"gradient_accumulation_steps: {s.gradient_accumulation_steps} does not "
            f"divide cutouts ({s.cutouts}); pick a divisor of {s.cutouts}"
        )
    clock = Clock.of(s, len(scenes))
    off = _check_expressions_over_run(clock, scenes, direct, schedules, problems)
    init_weights = [n for n in ("direct_init_weight", "semantic_init_weight") if n not in off]
    if init_weights and not s.init_image:
        problems.append(
            f"init_image: {' and '.join(init_weights)} {'is' if len(init_weights) == 1 else 'are'}"
            " set but init_image is empty; give an image or set the weight to 0"
        )
    if problems:
        raise SettingsError(problems)
    return RunPlan(s, tuple(scenes), tuple(direct), schedules, off, width, height, clock)


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


def _referenced_files(scenes, direct):
    """(path, label) of every image file named in the prompts."""
    for scene in scenes:
        for p in scene.prompts:
            if p.image:
                yield p.image, f"image prompt {p.source!r}"
            if p.mask.kind == "image":
                yield p.mask.path, f"mask of prompt {p.source!r}"
    for d in direct:
        yield d.path, f"direct image prompt {d.source!r}"
        if d.mask.kind == "image":
            yield d.mask.path, f"mask of direct image prompt {d.source!r}"


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


def _check_expressions_over_run(clock, scenes, direct, schedules, problems) -> frozenset:
    """Evaluate every time value at every step of the run, so none fails mid-render.

    Returns the names of the schedule settings that are zero at every step (off for the run).
    """
    from .schedules import check_time_value

    samples = clock.samples()
    values = [(v, f"setting {name!r}", False, name) for name, v in schedules.items()]
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
