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


def preview_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of a uint8 HxWx3 frame, enlarged by a whole factor when it is tiny."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    factor = math.ceil(PREVIEW_MIN_WIDTH / pil.width)
    if factor > 1:
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def progress_text(snap, run_plan) -> str:
    """'step N/M · scene s/S · frame f/F · ETA m:ss · x s/step' for one Snapshot."""
    clock = run_plan.clock
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


def schedule_chart(settings) -> str:
    """HTML for the schedule preview: a chart of every time-varying value, or why there is none."""
    from ..plan import plan

    try:
        series = schedule_series(plan(settings))
    except SettingsError as e:
        return "<i>fix these first: " + html.escape("; ".join(e.problems)) + "</i>"
    if not series:
        return "<i>Every weight and stop is constant over the run.</i>"
    return line_chart_svg(series, width=560, height=180, title="schedules over the run")


def schedule_series(run_plan, samples: int = SCHEDULE_SAMPLES) -> dict:
    """Every time-varying weight, stop and cutoff of a plan as {label: (steps, values)}."""
    total, per_scene = run_plan.total_steps, run_plan.settings.steps_per_scene
    out = {}
    for name, value in run_plan.schedules.items():
        _add(out, name, value, run_plan, 0, total, samples)
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


def _add(out, label, value, run_plan, start, end, samples):
    """Sample one time value over steps [start, end) unless it is constant."""
    if value is None or value.is_constant or end <= start:
        return
    stride = max(1, (end - start) // samples)
    steps = list(range(start, end, stride))
    out[label] = (steps, [run_plan.clock.at(i).value(value) for i in steps])
