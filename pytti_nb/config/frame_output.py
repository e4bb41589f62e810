"""Checks of color_coherence and interpolate_output, before any model loads."""

from ..errors import shown
from .schema import ANIMATED

COHERENCE_MODES = ("off", "first")  # any other color_coherence value is an image path
COHERENCE_WHERE = "color_coherence (off, first or an image path)"


def coherence_image(s) -> str:
    """The image color_coherence matches frames to; '' when off, first, or not animated."""
    if s.animation_mode not in ANIMATED or s.color_coherence in COHERENCE_MODES:
        return ""
    return s.color_coherence


def interpolation_flow(s) -> str | None:
    """The flow model interpolate_output loads at the end of the run (None without one)."""
    return s.interpolate_flow if s.interpolate_output > 1 else None


def check_frame_output(s, images, problems) -> None:
    """The color_coherence image is a readable image (images: plan._ImageChecks); an
    interpolated video needs animation frames to interpolate between."""
    value = s.color_coherence
    if s.animation_mode in ANIMATED and not value:
        problems.append(f"{COHERENCE_WHERE}: {shown(value)} is empty; give off, first or a path")
    elif coherence_image(s):
        images.size(value, COHERENCE_WHERE)
    if s.interpolate_output > 1 and s.animation_mode not in ANIMATED:
        problems.append(
            f"interpolate_output: {s.interpolate_output} interpolates between animation frames, "
            f"but animation_mode is {shown(s.animation_mode)} (a still image); set it to 1 or "
            "choose an animation mode"
        )
