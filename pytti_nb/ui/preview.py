"""Pure helpers behind the studio's displays: preview JPEGs, progress text, loss text, schedules."""

import html
import io
import math

import numpy as np
from PIL import Image

from ..errors import SettingsError
from .plots import line_chart_svg

PREVIEW_MIN_WIDTH = 256  # tiny renders are enlarged (nearest) so their pixels can be seen
JPEG_QUALITY = 85
SCHEDULE_SAMPLES = 200
KEY_FRAMES_LISTED = 12  # the schedule preview lists a cadence's first key frames


def preview_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of a uint8 HxWx3 frame, enlarged by a whole factor when it is tiny."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    factor = math.ceil(PREVIEW_MIN_WIDTH / pil.width)
    if factor > 1:
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def png(image: np.ndarray) -> bytes:
    """PNG bytes of a small uint8 HxWx3 picture (a palette swatch: exact colours)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def progress_text(snap) -> str:
    """'step N/M · scene s/S · frame f/F · ETA m:ss · x s/step' for one Snapshot."""
    clock = snap.clock
    parts = [f"step {snap.step}/{snap.total_steps}", f"scene {snap.scene + 1}/{clock.scenes}"]
    if clock.animated:
        parts.append(
            f"frame {snap.frame + 1}/{clock.frames}" if snap.frame >= 0 else "pre-animation"
        )
    left = max(snap.total_steps - snap.step, 0) * snap.seconds_per_step
    parts += [f"ETA {format_seconds(left)}", f"{snap.seconds_per_step:.3g} s/step"]
    return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    """h:mm:ss or m:ss."""
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def losses_text(losses: dict) -> str:
    """'total 0.812 · prompts 0.8 · smoothing 0.012', total first."""
    names = sorted(losses, key=lambda k: (k != "total", k))
    return " · ".join(f"{k} {losses[k]:.4g}" for k in names)


def schedule_chart(settings, previous=None) -> tuple[str, object]:
    """HTML for the schedule preview (charts of every time-varying weight, the audio bands and
    the camera motion per frame, or why there are none) and the plan it drew, or None.

    Re-planned on every edit: no model probes, and the `previous` plan's media analyses are
    reused while their files and settings are unchanged.
    """
    from ..config.plan import plan_run

    try:
        run_plan = plan_run(settings, check_models=False, previous=previous)
    except SettingsError as e:
        return "<i>fix these first: " + html.escape("; ".join(e.problems)) + "</i>", None
    return _charts(run_plan), run_plan


def _charts(run_plan) -> str:
    """The schedule preview's charts of a plan."""
    charts = []
    series = schedule_series(run_plan)
    if series:
        charts.append(line_chart_svg(series, width=560, height=180, title="schedules over the run"))
    keys = key_frames(run_plan)
    marks = {"x_label": "frame", "marks": keys or ()}
    audio = audio_series(run_plan)
    if audio:
        title = f"audio bands per frame, 0 to 1: {', '.join(audio)}"
        charts.append(line_chart_svg(audio, width=560, height=140, title=title, **marks))
    motion = motion_series(run_plan)
    if motion:
        title = f"camera motion per frame (pixels, degrees): {', '.join(motion)}"
        charts.append(line_chart_svg(motion, width=560, height=180, title=title, **marks))
    if keys is not None:
        charts.append(_key_frames_text(run_plan, keys, audio or motion))
    if not charts:
        return "<i>Every weight and stop is constant over the run.</i>"
    return "<br>".join(charts)


def key_frames(run_plan) -> list[int] | None:
    """The frames a cadence optimises (None without one: every frame is optimised)."""
    cadence, clock = run_plan.settings.cadence, run_plan.clock
    return clock.key_frames(cadence) if cadence > 1 and clock.frames else None


def _key_frames_text(run_plan, keys: list[int], charted) -> str:
    """One line naming a cadence's key frames (the dashed lines of the per-frame charts)."""
    shown = ", ".join(map(str, keys[:KEY_FRAMES_LISTED])) + (
        ", ..." if len(keys) > KEY_FRAMES_LISTED else ""
    )
    where = " (the dashed lines)" if charted else ""
    return html.escape(
        f"cadence {run_plan.settings.cadence}: {len(keys)} of {run_plan.clock.frames} frames "
        f"are optimised, key frames{where} {shown}; the rest are warped from them"
    )


def schedule_series(run_plan, samples: int = SCHEDULE_SAMPLES) -> dict:
    """Every time-varying weight, stop and cutoff of a plan as {label: (steps, values)}."""
    total, per_scene = run_plan.total_steps, run_plan.settings.steps_per_scene
    out = {}
    for name, value in run_plan.schedules.items():
        _add(out, name, value, run_plan, 0, total, samples)
    for name, weight in run_plan.weights.items():
        if name not in run_plan.off:
            _add(out, f"{name} (weight)", weight.weight, run_plan, 0, total, samples)
            _add(out, f"{name} (stop)", weight.stop, run_plan, 0, total, samples)
    for scene in run_plan.scenes:
        start = scene.index * per_scene
        end = total if scene.index == len(run_plan.scenes) - 1 else start + per_scene
        for p in scene.prompts:
            label = f"scene {scene.index + 1}: {p.source}"
            _add(out, f"{label} (weight)", p.weight, run_plan, start, end, samples)
            _add(out, f"{label} (stop)", p.stop, run_plan, start, end, samples)
            if p.mask.cutoff is not None:
                _add(out, f"{label} (mask cutoff)", p.mask.cutoff, run_plan, start, end, samples)
    for d in run_plan.direct_prompts:
        _add(out, f"{d.source} (weight)", d.weight, run_plan, 0, total, samples)
        _add(out, f"{d.source} (stop)", d.stop, run_plan, 0, total, samples)
    return out


def audio_series(run_plan, samples: int = 4 * SCHEDULE_SAMPLES) -> dict:
    """Every audio band over the run's frames: {name: (frames, values)}, beats kept visible."""
    audio, frames = run_plan.audio, run_plan.clock.frames
    if audio is None or not frames:
        return {}
    values = audio.values[:frames]
    stride = max(1, len(values) // samples)
    if stride > 1:  # the loudest frame of each stretch, so thinning never hides a beat
        usable = len(values) // stride * stride
        values = values[:usable].reshape(-1, stride, values.shape[1]).max(axis=1)
    steps = list(range(0, len(values) * stride, stride))
    return {
        band.variable_name: (steps, values[:, k].tolist()) for k, band in enumerate(audio.filters)
    }


def motion_series(run_plan, samples: int = SCHEDULE_SAMPLES) -> dict:
    """Every motion value that is not constant zero, per frame: {label: (frames, values)}.

    3D values that use the depth range are drawn with the typical depths validation uses.
    """
    from ..animation.motion import evaluate, typical_depths

    clock, motion = run_plan.clock, run_plan.motion
    if not clock.frames or not motion:
        return {}
    s = run_plan.settings
    depths = typical_depths(s, run_plan.output_size[1]) if s.animation_mode == "3D" else {}
    frames = list(range(0, clock.frames, max(1, clock.frames // samples)))
    values = [evaluate(motion, clock.at(clock.frame_start_step(f)), depths) for f in frames]
    out = {}
    for name in motion:
        parts = [v[name] if isinstance(v[name], tuple) else (v[name],) for v in values]
        for k, column in enumerate(zip(*parts, strict=True)):
            label = f"{name}[{'wxyz'[k]}]" if len(parts[0]) > 1 else name
            unrotated = label == "rotate_3d[w]" and all(c == 1 for c in column)
            if any(column) and not unrotated:  # zero motion and w = 1 draw nothing
                out[label] = (frames, list(column))
    return out


def _add(out, label, value, run_plan, start, end, samples):
    """Sample one time value over steps [start, end) unless it is constant."""
    if value is None or value.is_constant or end <= start:
        return
    stride = max(1, (end - start) // samples)
    steps = list(range(start, end, stride))
    out[label] = (steps, [run_plan.clock.at(i).value(value) for i in steps])
