"""Turn Settings into a checked RunPlan: every prompt, expression and file is validated here,
before any model loads or any GPU time is spent."""

from dataclasses import dataclass, field
from pathlib import Path

from ..animation.motion import MAX_MOTION
from ..errors import MissingModels, ModelUnavailable, PyttiError, SettingsError, shown
from ..io.images import check_image_file
from ..io.model_folder import cache_dir_of
from ..media.video import file_stamp
from .clock import Clock
from .frame_output import check_frame_output, coherence_image, interpolation_flow
from .run_media import (
    audio_bands,
    mask_videos,
    prompt_masks,
    referenced_files,
    video_source,
    video_steps,
)
from .run_values import Largest, check_values_over_run
from .schema import TIME_KINDS, WEIGHT_KINDS, Settings, names_where, schema, schema_by_name
from .variables import expression_names

MAX_OUTPUT_PIXELS = 4096 * 4096
MIN_OUTPUT_SIDE = 8
MAX_TOTAL_STEPS = 1_000_000  # steps of one run (scenes x steps_per_scene, or the video's)
INIT_WEIGHTS = names_where(init=True)
STAND_IN_SIZE = (512, 512)  # a -1 side's image when the file is not here (check_files=False)


@dataclass(frozen=True)
class NeededModels:
    """The models a run loads, named as the settings name them: what the ModelCache is asked
    for. None for a model the run does without."""

    perceptors: tuple[str, ...]
    depth: str | None = None  # depth_model, unless the run needs none or it is the flat plane
    flow: str | None = None  # flow_model, when the run follows optical flow
    vqgan: str | None = None  # vqgan_model, in a VQGAN run


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
    video: object = None  # media.video.VideoInfo of a Video Source run's video_path
    mask_videos: dict = field(default_factory=dict)  # path -> VideoInfo of every video mask
    audio: object = None  # media.audio.AudioBands of input_audio, per frame
    images: dict = field(default_factory=dict)  # path -> (file stamp, size) of checked images
    pixel_scale: int = 1  # output pixels per parameter pixel (see pixel_scale)
    models: NeededModels | None = None  # what the run loads (see needed_models)

    def mask_frame(self, frame: int) -> int:
        """The frame of a video mask that goes with an animation frame (PyTTI's rotoscopers:
        the first before the animation, then (frame + 1) * frame_stride)."""
        return 0 if frame < 0 else (frame + 1) * self.settings.frame_stride

    @property
    def total_steps(self) -> int:
        """Steps in the whole run."""
        return self.clock.total_steps

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the rendered image in pixels."""
        return self.width * self.pixel_scale, self.height * self.pixel_scale

    @property
    def target_palette(self) -> str:
        """The image the palettes are fitted to; '' when none or not a Limited Palette run."""
        return _in_force(self.settings, "target_palette")

    def image_files(self) -> list[tuple[str, str]]:
        """(path, 'rgb' or 'gray') of every image the run reads: init, prompts and masks."""
        s = self.settings
        files = [(s.init_image, "rgb")] if s.init_image else []
        if coherence_image(s):
            files.append((coherence_image(s), "rgb"))
        if self.target_palette:
            files.append((self.target_palette, "rgb"))
        for path, where in referenced_files(self.scenes, self.direct_prompts, self.weights):
            files.append((path, "gray" if where.startswith("mask") else "rgb"))
        return files


def plan_run(
    settings: Settings, *, check_models: bool = True, check_files: bool = True, previous=None
) -> RunPlan:
    """Check everything that can be checked without models; raise one SettingsError listing all.

    check_models=False skips whether the perceptors and the depth and flow models can be had
    (a file lookup, or a network probe when a model is not downloaded yet): for previews that
    re-plan on every edit. A `previous` plan lends its probes of unchanged media files.
    check_files=False lets media files that are not on this machine pass (converting a PyTTI
    file needs none of them; run_needs names them): what depends on their contents (a -1 side,
    a video's length, the sound's bands) is not checked.

    Raises SettingsError listing every problem, or MissingModels when the only problems are
    models this machine cannot have now.
    """
    from ..animation.motion import parse_motion

    s, problems, missing = settings, [], []
    gone = _Gone(check_files)
    audio = None if gone(s.input_audio) else audio_bands(s, previous, problems)
    names = expression_names(s.input_audio_filters)  # t and the audio bands
    unknown = names[1:] if gone(s.input_audio) else ()  # bands of a sound not here
    scenes, direct = _prompts(s, names, problems)
    schedules, weights = _values(s, names, problems)
    motion = parse_motion(s, problems, names)
    if check_models:
        _check_perceptors(s, problems)
    _check_output(s, problems)
    images = _ImageChecks(previous, problems, gone)
    init_size = _check_init_images(s, images)
    following = s.animation_mode == "Video Source"
    video = None if following and gone(s.video_path) else video_source(s, previous, problems)
    if init_size is None and video is not None:
        init_size = (video.width, video.height)  # the video's first frame is the init image
    if init_size is None and (gone(s.init_image) or following and gone(s.video_path)):
        init_size = STAND_IN_SIZE
    _check_prompt_images(scenes, direct, weights, images)
    check_frame_output(s, images, problems)
    width, height = _resolve_size(s, init_size, problems)
    if s.image_model == "VQGAN":
        width, height = _vqgan_size(s, width, height, check_models, problems, missing)
    _check_batches(s, problems)
    clock = _clock(s, scenes, video, audio, problems)
    _check_cadence(s, clock, problems)
    absent = {m.path for m, _ in prompt_masks(scenes, direct, weights) if gone(m.path)}
    masks = mask_videos(s, scenes, direct, weights, clock, previous, problems, absent)
    off = check_values_over_run(clock, scenes, direct, schedules, weights, problems, unknown)
    _check_init_weights(s, off, video is not None or following and gone(s.video_path), problems)
    scale, models = pixel_scale(s), needed_models(s, off)
    known = {k: v for k, v in motion.items() if not _reads(v, unknown)}
    _check_animation(s, clock, known, off, models, height * scale, problems, check_models, missing)
    if check_models and interpolation_flow(s) not in (None, "dis"):
        from ..models.flow_weights import check_flow_model

        args = (check_flow_model, interpolation_flow(s), cache_dir_of(s))
        _attempt_model(problems, missing, "interpolate_flow", *args)
    if problems:
        raise SettingsError(problems + missing)
    if missing:
        raise MissingModels(missing)
    return RunPlan(
        s, tuple(scenes), tuple(direct), schedules, weights, motion, off, width, height, clock,
        video=video, mask_videos=masks, audio=audio, images=images.sizes,
        pixel_scale=scale, models=models,
    )  # fmt: skip


class _Gone:
    """Whether a media path is a file not on this machine (or a URL) that the plan may pass
    over: never when files are checked."""

    def __init__(self, check_files: bool):
        self.check_files = check_files

    def __call__(self, path) -> bool:
        if self.check_files or not path:
            return False
        return "://" in str(path) or not Path(str(path)).expanduser().exists()


def _reads(value, names) -> bool:
    """Whether a motion value (or any of rotate_3d's four) reads one of these names."""
    values = value if isinstance(value, tuple) else (value,)
    return any(v.names_used & frozenset(names) for v in values)


def _attempt_model(problems, missing, label, fn, *args):
    """fn's result, or None with its error added: to `missing` when the model cannot be had
    now (ModelUnavailable), else to problems."""
    try:
        return fn(*args)
    except PyttiError as e:
        (missing if isinstance(e, ModelUnavailable) else problems).append(f"{label}: {e}")
    return None


def _attempt(problems, label, fn, *args, **kwargs):
    """fn's result, or None with its PyttiError added to problems (after label, if any)."""
    try:
        return fn(*args, **kwargs)
    except PyttiError as e:
        problems.append(f"{label}: {e}" if label else str(e))
        return None


def _prompts(s, names, problems) -> tuple[tuple, tuple]:
    """The parsed scenes and direct image prompts (empty where they do not parse)."""
    from ..lang.prompts import parse_direct_image_prompts, parse_scenes

    scenes = _attempt(
        problems, "scenes", parse_scenes, s.scenes, s.scene_prefix, s.scene_suffix, names=names
    )
    direct = _attempt(
        problems,
        "direct_image_prompts",
        parse_direct_image_prompts,
        s.direct_image_prompts,
        names=names,
    )
    return scenes or (), direct or ()


def _values(s, names, problems) -> tuple[dict, dict]:
    """Every setting of a time kind parsed (schedules) and every weight setting (weights),
    None for one that does not parse."""
    from ..lang.prompts import parse_target_weight
    from ..lang.schedules import parse_time_value

    schedules, weights = {}, {}
    for info in schema():
        text, where = getattr(s, info.name), f"setting {info.name!r}"
        if info.kind in TIME_KINDS:
            schedules[info.name] = _attempt(
                problems, info.name, parse_time_value, text, names=names, where=where
            )
        elif info.kind in WEIGHT_KINDS:
            pixel = info.kind == "pixel_weight"
            weights[info.name] = _attempt(
                problems, info.name, parse_target_weight, text, pixel=pixel, names=names
            )
    return schedules, weights


def _check_perceptors(s, problems) -> None:
    """Each perceptor spec names a model that can be had (its weights cached, or a host up)."""
    from ..perception.specs import check_perceptor_spec

    for spec in s.perceptors:
        _attempt(problems, "perceptors", check_perceptor_spec, spec, cache_dir=cache_dir_of(s))


def _check_output(s, problems) -> None:
    """The file namespace is a usable name; models_cache_dir is not a file."""
    from ..io.namespace import validate_namespace

    _attempt(problems, "file_namespace", validate_namespace, s.file_namespace)
    cache = cache_dir_of(s)
    if cache is not None and Path(cache).exists() and not Path(cache).is_dir():
        problems.append(
            f"models_cache_dir: {shown(s.models_cache_dir)} is a file; give a folder "
            "(it is created if missing) or leave it empty for open_clip's cache"
        )


class _ImageChecks:
    """check_image_file of each image a run reads, reusing the previous plan's check of an
    unchanged file (the studio re-plans at every edit: a full decode each time would stall it)."""

    def __init__(self, previous, problems, gone=lambda path: False):
        self.previous, self.problems, self.gone = previous, problems, gone
        self.sizes = {}  # path -> (file stamp, size), the plan's `images`

    def size(self, path, where):
        """The image's (width, height), or None with the problem added (it names `where`);
        None for a file not here that the plan passes over."""
        if self.gone(path):
            return None
        return _attempt(self.problems, None, self._size, path, where)

    def _size(self, path, where):
        """check_image_file's size, or the previous plan's for an unchanged file."""
        key = str(path)
        stamp = file_stamp(Path(key).expanduser())
        known = self.previous.images.get(key) if self.previous is not None else None
        if not (stamp and known and known[0] == stamp):
            known = (stamp, check_image_file(path, where))
        self.sizes[key] = known
        return known[1]


def _check_init_images(s, images: _ImageChecks):
    """The init image's size (None without one) and the target palette's image checked."""
    init_size = images.size(s.init_image, "init_image") if s.init_image else None
    if _in_force(s, "target_palette"):
        images.size(s.target_palette, "target_palette")
    return init_size


def _check_prompt_images(scenes, direct, weights, images: _ImageChecks) -> None:
    """Every image the prompts and weights name, each decoded once however often named."""
    checked = set()
    for path, where in referenced_files(scenes, direct, weights):
        if path not in checked:
            checked.add(path)
            images.size(path, where)


def _check_batches(s, problems) -> None:
    """Gradient accumulation splits the cutouts into equal batches."""
    if s.cutouts % s.gradient_accumulation_steps:
        problems.append(
            f"gradient_accumulation_steps: {s.gradient_accumulation_steps} does not "
            f"divide cutouts ({s.cutouts}); pick a divisor of {s.cutouts}"
        )


def _clock(s, scenes, video, audio, problems) -> Clock:
    """The run's clock; raises SettingsError at once for a run too long to check step by step."""
    clock = Clock.of(s, len(scenes), max_steps=video_steps(s, video, problems), audio=audio)
    if clock.total_steps > MAX_TOTAL_STEPS:
        problems.append(
            f"steps_per_scene: the run would take {clock.total_steps:,} steps ({len(scenes)} "
            f"scene(s)); at most {MAX_TOTAL_STEPS:,}: use fewer steps or scenes"
        )
        raise SettingsError(problems)
    return clock


def _check_cadence(s, clock, problems) -> None:
    """A cadence leaves key frames in the run: it is at most the run's animation frames."""
    if s.cadence > 1 and s.cadence > clock.frames:
        made = f"makes {clock.frames} animation frame(s)" if clock.frames else "is not animated"
        problems.append(
            f"cadence: {s.cadence} optimises every {s.cadence}th frame, but the run {made}; "
            f"use 1 to {max(clock.frames, 1)} (1 optimises every frame)"
        )


def _check_init_weights(s, off, has_video, problems) -> None:
    """An init weight that is on needs an init image (a Video Source's video is one)."""
    init_weights = [n for n in INIT_WEIGHTS if n not in off]
    if init_weights and not s.init_image and not has_video:
        problems.append(
            f"init_image: {' and '.join(init_weights)} {'is' if len(init_weights) == 1 else 'are'}"
            " set but init_image is empty; give an image or set the weight to 0"
        )


def pixel_scale(s) -> int:
    """Output pixels per parameter pixel: pixel_size (VQGAN's width and height are already in
    output pixels)."""
    return 1 if s.image_model == "VQGAN" else s.pixel_size


def needed_models(s, off) -> NeededModels:
    """The models a run with these settings loads, `off` naming the weights that stay zero: a
    depth model for 3D motion or depth stabilisation (none for the flat plane), optical flow
    for Video Source or 3D flow stabilisation, VQGAN's for a VQGAN run."""
    from ..models.depth_config import is_flat

    mode = s.animation_mode
    depth = mode == "3D" or "depth_stabilization_weight" not in off
    flow = mode == "Video Source" or (mode == "3D" and "flow_stabilization_weight" not in off)
    return NeededModels(
        perceptors=tuple(s.perceptors),
        depth=s.depth_model if depth and not is_flat(s.depth_model) else None,
        flow=s.flow_model if flow else None,
        vqgan=s.vqgan_model if s.image_model == "VQGAN" else None,
    )


def _check_animation(s, clock, motion, off, models, output_height, problems, check_models, missing):
    """The camera, the depth and flow models and the motion values at every frame of the run
    (a depth or flow model that cannot be had now goes to `missing`)."""
    before = len(problems)
    if s.animation_mode == "3D":
        _check_camera(s, problems)
        _check_depth_range(s, motion, problems, check_models)
    _check_depth_and_flow(s, off, models, problems, check_models, missing)
    if len(problems) == before:  # the motion check needs a sound camera and depth model
        _check_motion(s, clock, motion, output_height, problems)


def _check_camera(s, problems) -> None:
    """A 3D camera's field of view and clipping planes."""
    fov = schema_by_name()["field_of_view"]  # its bounds keep the projection finite
    if not fov.min <= s.field_of_view <= fov.max:
        problems.append(
            f"field_of_view: {s.field_of_view:g} degrees is not a camera's; give a value "
            f"from {fov.min:g} to {fov.max:g}, e.g. 60"
        )
    if not 0 < s.near_plane < s.far_plane:
        problems.append(
            f"near_plane/far_plane: {s.near_plane:g} and {s.far_plane:g}; the near plane "
            "must be above 0 and below the far plane (PyTTI's defaults are 1 and 10000)"
        )


def _check_depth_range(s, motion, problems, check_models) -> None:
    """3D motion reads r, R and mu only where depth is metric (or the flat plane): known here
    for a model folder, a downloaded model (when check_models) and the official ids; the
    render checks the rest when the model loads."""
    from ..animation.motion import depth_names_read, relative_depth_problems
    from ..models.depth_config import depth_kind

    reads = any(depth_names_read(value) for value in motion.values())
    if reads and depth_kind(s.depth_model, cache_dir_of(s), look=check_models) == "relative":
        problems.extend(relative_depth_problems(s, motion))


def _check_depth_and_flow(s, off, models: NeededModels, problems, check_models, missing):
    """Depth stabilisation has a depth model to compare with; the depth and flow models the run
    loads can be had (when check_models)."""
    from ..models.depth_config import check_depth_model
    from ..models.flow_weights import check_flow_model

    if "depth_stabilization_weight" not in off and models.depth is None:
        problems.append(
            "depth_stabilization_weight: compares depth maps, which needs a depth model; "
            "depth_model is none (set a model, or the weight to 0)"
        )
    elif models.depth is not None and check_models:
        args = (check_depth_model, models.depth, cache_dir_of(s))
        _attempt_model(problems, missing, "depth_model", *args)
    if models.flow is not None and check_models:
        args = (check_flow_model, models.flow, cache_dir_of(s))
        _attempt_model(problems, missing, "flow_model", *args)


def _check_motion(s, clock, motion, output_height, problems) -> None:
    """Every motion value at every frame: finite, and within MAX_MOTION."""
    from ..animation.motion import check_motion_over_run, depth_ranges

    depths = depth_ranges(s, output_height) if s.animation_mode == "3D" else {}
    watched = {
        k: tuple(map(Largest, v)) if isinstance(v, tuple) else Largest(v) for k, v in motion.items()
    }
    before = len(problems)
    check_motion_over_run(clock, watched, depths, problems)
    if len(problems) > before:
        return
    for name, value in watched.items():
        largest = max(v.largest for v in (value if isinstance(value, tuple) else (value,)))
        if largest > MAX_MOTION:
            problems.append(
                f"{name}: reaches {largest:.3g} at some frame; a motion value must stay within "
                f"±{MAX_MOTION:g} (pixels or degrees per frame)"
            )


def plan_dict(data: dict, *, source: str = "settings", **checks) -> RunPlan:
    """Plan from a raw mapping, reporting type errors and whole-run problems in one list
    (`checks`: plan_run's check_models and check_files)."""
    from .settings import from_dict_lenient

    settings, problems = from_dict_lenient(data, source=source)
    try:
        result = plan_run(settings, **checks)
    except SettingsError as e:
        if isinstance(e, MissingModels) and not problems:
            raise
        # skip what the lenient defaults caused: those keys are already reported
        bad = {p.split(":", 1)[0] for p in problems}
        problems += [p for p in e.problems if p.split(":", 1)[0] not in bad]
    if problems:
        raise SettingsError(problems)
    return result


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


def _in_force(s, name):
    """A setting's value where it applies (its schema's visible_when holds), else its type's
    empty value: target_palette means nothing to a VQGAN run."""
    value = getattr(s, name)
    return value if schema_by_name()[name].visible(vars(s)) else type(value)()


def _vqgan_size(s, width, height, check_models, problems, missing):
    """VQGAN's output in pixels: width*pixel_size and height*pixel_size rounded down to a
    multiple of the model's factor (PyTTI's rule); the model is checked when check_models (one
    that cannot be had now goes to `missing`)."""
    from ..models.vqgan import check_vqgan_model, vqgan_factor

    cache, known = cache_dir_of(s), len(problems)
    if check_models:
        _attempt_model(problems, missing, "vqgan_model", check_vqgan_model, s.vqgan_model, cache)
    factor = _attempt(problems, "vqgan_model", vqgan_factor, s.vqgan_model, cache)
    if len(problems) > known + 1:  # the check and the factor found the same fault
        del problems[known + 1 :]
    if factor is None:
        return width, height
    out_w, out_h = (side * s.pixel_size // factor * factor for side in (width, height))
    if min(out_w, out_h) < factor:
        problems.append(
            f"width/height: VQGAN {shown(s.vqgan_model)} makes images in blocks of {factor} pixels; "
            f"the output {width * s.pixel_size}x{height * s.pixel_size} is smaller than one"
        )
        return width, height
    return out_w, out_h
