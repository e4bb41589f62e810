"""PNG images with pytti_nb's metadata: the settings and the step as JSON in an iTXt chunk, a
short summary for image viewers, and the metadata read back within bounds."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ..errors import OutputError, shown, shown_path
from .bounded import size_problem

METADATA_KEY = "pytti_nb"  # iTXt chunk holding the metadata as JSON
SUMMARY_KEY = "parameters"  # iTXt chunk with a human-readable summary (the name image viewers show)
PNG_COMPRESS_LEVEL = 4  # zlib level 4 is ~3x faster than the default 6 for a few % larger files
JSON_TYPES = (str, int, float, bool, type(None))


def unserialisable_part(value: object, where: str = "metadata") -> str | None:
    """Describe the first value inside `value` that JSON cannot store, or None if all are fine."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, JSON_TYPES):
                return f"{where} key {key!r} ({type(key).__name__})"
            found = unserialisable_part(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        found = (unserialisable_part(item, f"{where}[{i}]") for i, item in enumerate(value))
        return next((f for f in found if f), None)
    return None if isinstance(value, JSON_TYPES) else f"{where} ({type(value).__name__})"


def metadata_json(metadata: dict) -> str:
    """Serialise `metadata` to JSON, raising OutputError that names any value JSON cannot store."""
    if not isinstance(metadata, dict):
        raise OutputError(f"output metadata must be a dict, got {type(metadata).__name__}")
    try:
        return json.dumps(metadata, ensure_ascii=False)  # inf/nan survive as Infinity/NaN
    except (TypeError, ValueError) as e:
        bad = unserialisable_part(metadata) or str(e)
        raise OutputError(
            f"cannot store output metadata: {bad} is not JSON-serialisable; "
            "allowed are dicts, lists, strings, numbers, booleans and None"
        ) from e


def metadata_summary(metadata: dict) -> str:
    """A short human-readable summary (scenes, seed, frame, step) for image viewers."""
    settings = metadata.get("settings")
    scenes = settings.get("scenes") if isinstance(settings, dict) else None
    shown = [k for k in ("seed", "frame", "step") if k in metadata]
    # a still image has no animation frame (-1)
    fields = [f"{k}: {metadata[k]}" for k in shown if not (k == "frame" and metadata[k] == -1)]
    version = (metadata.get("versions") or {}).get("pytti_nb", "")
    lines = [f"scenes: {scenes}"] if scenes is not None else []
    return "\n".join(lines + [", ".join(fields + [f"pytti_nb {version}".strip()])])


def to_pil(image) -> Image.Image:
    """Accept a PIL image or a uint8 HxWx3 array and return an RGB PIL image."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise TypeError(f"expected a PIL image or a uint8 HxWx3 array, got {arr.dtype} {arr.shape}")
    return Image.fromarray(np.ascontiguousarray(arr))


def png_bytes(image, metadata: dict) -> bytes:
    """Encode `image` as PNG with `metadata` stored as JSON in the `pytti_nb` iTXt chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(METADATA_KEY, metadata_json(metadata), zip=True)
    info.add_itxt(SUMMARY_KEY, metadata_summary(metadata))
    buf = io.BytesIO()
    to_pil(image).save(buf, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def read_png_metadata(path: Path) -> dict:
    """Read back the metadata dict that png_bytes stored in a PNG file."""
    path = Path(path)
    where = f"cannot read metadata from {shown_path(path)}"
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # ValueError: a NUL in the path
        is_file = False
    if not is_file:
        raise OutputError(f"{where}: no such file")
    try:
        with Image.open(path) as im:
            fmt, raw = im.format, im.info.get(METADATA_KEY)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise OutputError(f"{where}: not a readable image ({shown(str(e), 200)})") from e
    if fmt != "PNG":
        raise OutputError(f"{where}: it is a {fmt} file, not a PNG")
    if not isinstance(raw, str):
        raise OutputError(
            f"{where}: the PNG has no '{METADATA_KEY}' text chunk, "
            "so it was not written by pytti_nb (or its metadata was stripped)"
        )
    try:
        metadata = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise OutputError(f"{where}: corrupt metadata JSON ({shown(str(e), 200)})") from e
    if not isinstance(metadata, dict):
        raise OutputError(f"{where}: metadata is not a JSON object")
    problem = size_problem(metadata)
    if problem:
        raise OutputError(f"{where}: its metadata is too large ({problem})")
    return metadata
