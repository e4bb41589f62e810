"""Checks of color_coherence, before any model loads."""

from ..errors import shown
from .schema import ANIMATED

COHERENCE_MODES = ("off", "first")  # any other color_coherence value is an image path
COHERENCE_WHERE = "color_coherence (off, first or an image path)"


def coherence_image(s) -> str:
    """The image color_coherence matches frames to; '' when off, first, or not animated."""
    if s.animation_mode not in ANIMATED or s.color_coherence in COHERENCE_MODES:
        return ""
    return s.color_coherence


def check_frame_output(s, images, problems) -> None:
    """The color_coherence image is a readable image (images: plan._ImageChecks)."""
    value = s.color_coherence
    if s.animation_mode in ANIMATED and not value:
        problems.append(f"{COHERENCE_WHERE}: {shown(value)} is empty; give off, first or a path")
    elif coherence_image(s):
        images.size(value, COHERENCE_WHERE)
