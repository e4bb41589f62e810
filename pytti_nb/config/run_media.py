"""The media a run reads, checked and probed once (a re-plan reuses unchanged probes): the
sound's bands, the Video Source, mask videos, and every file the prompts name."""

from ..errors import PyttiError, shown
from ..lang.prompts import MaskKind


def audio_bands(s, previous, problems):
    """input_audio's band values per frame (None without audio or when it cannot be read)."""
    from ..media.audio import analyse_audio, parse_filters

    if not s.input_audio and not s.input_audio_filters:
        return None
    if not s.input_audio or not s.input_audio_filters:
        missing = "input_audio" if not s.input_audio else "input_audio_filters"
        problems.append(
            f"{missing}: audio reactivity needs both a sound file (input_audio) and at least "
            "one band (input_audio_filters); give the missing one, or clear the other"
        )
        return None
    filters = parse_filters(s.input_audio_filters)
    args = (s.input_audio, s.input_audio_offset, s.frames_per_second, filters)
    known = previous.audio if previous is not None else None
    if known is not None and known.matches(*args):
        return known
    try:
        return analyse_audio(*args)
    except PyttiError as e:
        problems.append(str(e))
        return None


def _probe(path, fps, where, previous_info, problems):
    """A VideoInfo, reusing an earlier probe of the same unchanged file at the same rate."""
    from ..media.video import probe_video

    if previous_info is not None and previous_info.matches(path, fps):
        return previous_info
    try:
        return probe_video(path, fps, where)
    except PyttiError as e:
        problems.append(str(e))
        return None


def video_source(s, previous, problems):
    """The probed video of a Video Source run (None in other modes or when unreadable)."""
    if s.animation_mode != "Video Source":
        return None
    if not s.video_path:
        problems.append("video_path: Video Source needs a video; give its path")
        return None
    known = previous.video if previous is not None else None
    return _probe(s.video_path, s.frames_per_second, "video_path", known, problems)


def video_steps(s, video, problems) -> int | None:
    """The step at which a Video Source run ends because its video does (None: no limit)."""
    if video is None:
        return None
    frames = (video.frames - 1) // s.frame_stride  # frame k shows source frame (k + 1) * stride
    if frames < 1:
        problems.append(
            f"video_path: {shown(s.video_path)} has {video.frames} frame(s) at "
            f"{s.frames_per_second:g} fps; an animation frame needs the next one "
            f"{s.frame_stride} frame(s) on; use a longer video or a smaller frame_stride"
        )
    return s.pre_animation_steps + max(frames, 0) * s.steps_per_frame


def mask_videos(s, scenes, direct, weights, clock, previous, problems, absent=()) -> dict:
    """Every video mask probed, and long enough for every frame of the run (but the `absent`
    ones, files a conversion does not need)."""
    out = {}
    last = 0 if clock.frames == 0 else clock.frames * s.frame_stride  # the last frame a mask needs
    for mask, where in prompt_masks(scenes, direct, weights):
        if mask.kind is not MaskKind.VIDEO or mask.path in out or mask.path in absent:
            continue
        known = previous.mask_videos.get(mask.path) if previous is not None else None
        info = _probe(mask.path, s.frames_per_second, where, known, problems)
        if info is None:
            continue
        out[mask.path] = info
        if info.frames <= last:
            problems.append(
                f"{where}: the mask video {shown(mask.path)} has {info.frames} frame(s) at "
                f"{s.frames_per_second:g} fps, but the run needs {last + 1} (mask frames follow "
                "the animation frames, frame_stride at a time); use a longer mask video"
            )
    return out


def prompt_masks(scenes, direct, weights):
    """(Mask, label) of every mask in the prompts and weight settings."""
    for scene in scenes:
        for p in scene.prompts:
            yield p.mask, f"mask of prompt {shown(p.source)}"
    for d in direct:
        yield d.mask, f"mask of direct image prompt {shown(d.source)}"
    for name, weight in weights.items():
        if weight is not None:
            yield weight.mask, f"mask of {name}"


def referenced_files(scenes, direct, weights):
    """(path, label) of every image file named in the prompts and weights."""
    for scene in scenes:
        for p in scene.prompts:
            if p.image:
                yield p.image, f"image prompt {shown(p.source)}"
    for d in direct:
        yield d.path, f"direct image prompt {shown(d.source)}"
    for mask, where in prompt_masks(scenes, direct, weights):
        if mask.kind is MaskKind.IMAGE:
            yield mask.path, where
