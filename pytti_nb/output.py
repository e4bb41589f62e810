"""Run folders: namespace resolution, PNG frames with embedded metadata, settings.yaml and the MP4.

Layout of one run (`output_root/<file_namespace>` or `<file_namespace>(k)`):
    frames/000000.png ...   one PNG per saved frame; names sort in frame order
    palettes/000000.png ... the Limited Palette swatch of each saved frame, with show_palette
    settings.yaml           the run's settings
    checkpoint.pt           resume state (written by checkpoint.py)
    <run folder name>.mp4   assembled by RunWriter.finish() when there is more than one frame
    <run folder name>.gif   the same as an animated GIF, with save_gif
No torch import here: this module must work in a bare notebook kernel or UI process.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from pytti_nb.atomic import (
    TEMP_SUFFIX,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    temp_path_for,
)
from pytti_nb.errors import OutputError

METADATA_KEY = "pytti_nb"  # iTXt chunk holding the metadata as JSON
SUMMARY_KEY = "parameters"  # iTXt chunk with a human-readable summary (the name image viewers show)
FRAMES_DIR = "frames"
PALETTES_DIR = "palettes"
SETTINGS_NAME = "settings.yaml"
CHECKPOINT_NAME = "checkpoint.pt"
PNG_COMPRESS_LEVEL = 4  # zlib level 4 is ~3x faster than the default 6 for a few % larger files
VIDEO_CRF = 17  # x264 constant quality; 17 is visually lossless at a fraction of crf 1's size
FRAME_NAME = re.compile(r"\d{6,}\.png")
# Characters some OS refuses in a file name (Windows: these and control characters); PyTTI
# took any name, so everything else that every OS stores is allowed.
NAMESPACE_FORBIDDEN = set('<>:"\\|?*')
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)
}
NAMESPACE_ALLOWED = (
    "use a relative folder name of letters, digits, spaces and punctuation other than "
    "< > : \" \\ | ? *, with '/' between nested folders (e.g. 'my_run' or 'tests/run_1')"
)
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
    if not path.is_file():
        raise OutputError(f"cannot read metadata from '{path}': no such file")
    try:
        with Image.open(path) as im:
            fmt, raw = im.format, im.info.get(METADATA_KEY)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise OutputError(f"cannot read metadata from '{path}': not a readable image ({e})") from e
    if fmt != "PNG":
        raise OutputError(f"cannot read metadata from '{path}': it is a {fmt} file, not a PNG")
    if raw is None:
        raise OutputError(
            f"cannot read metadata from '{path}': the PNG has no '{METADATA_KEY}' chunk, "
            "so it was not written by pytti_nb (or its metadata was stripped)"
        )
    try:
        metadata = json.loads(raw)
    except ValueError as e:
        raise OutputError(f"cannot read metadata from '{path}': corrupt metadata JSON ({e})") from e
    if not isinstance(metadata, dict):
        raise OutputError(f"cannot read metadata from '{path}': metadata is not a JSON object")
    return metadata


def namespace_problem(ns: object) -> str | None:
    """Say what is wrong with a file_namespace value, or None if it is allowed."""
    if not isinstance(ns, str):
        return f"must be text, not {type(ns).__name__}"
    if not ns.strip():
        return "is empty"
    if ns.startswith("/"):
        return "is an absolute path"
    for part in ns.split("/"):
        if not part:
            return "has an empty folder name (a trailing or doubled '/')"
        if set(part) == {"."}:
            return f"contains {part!r}, which would leave or alias the output folder"
        bad = sorted({c for c in part if c in NAMESPACE_FORBIDDEN or not c.isprintable()})
        if bad:
            return f"contains the character(s) {''.join(bad)!r}"
        if part != part.strip():
            return f"has the folder name {part!r}, which starts or ends with a space"
        if part.endswith("."):
            return f"has the folder name {part!r}, which ends in '.' (Windows drops it)"
        if part.split(".")[0].upper() in WINDOWS_DEVICES:
            return f"has the folder name {part!r}, a device name on Windows"
    return None


def validate_namespace(ns: str) -> None:
    """Raise OutputError unless `ns` is a safe relative file_namespace (pure: no filesystem)."""
    problem = namespace_problem(ns)
    if problem:
        raise OutputError(f"file_namespace {ns!r} {problem}; {NAMESPACE_ALLOWED}")


def run_dir_inside(root: Path, name: str, file_namespace: str) -> Path:
    """Resolve `root/name`, raising OutputError if symlinks take it outside `root`."""
    run_dir = (root / name).resolve()
    if not run_dir.is_relative_to(root):
        raise OutputError(
            f"file_namespace {file_namespace!r} resolves to '{run_dir}', outside the output folder "
            f"'{root}' (through a symlink); {NAMESPACE_ALLOWED}"
        )
    return run_dir


def holds_run(path: Path) -> bool:
    """True if `path` is taken: a file, or a folder with anything in it."""
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def resolve_run_dir(output_root: Path, file_namespace: str, allow_overwrite: bool) -> Path:
    """Pick (and create) the run folder: `<ns>`, or the first free `<ns>(k)` unless overwriting."""
    validate_namespace(file_namespace)
    root = Path(output_root).resolve()
    run_dir = run_dir_inside(root, file_namespace, file_namespace)
    k = 0
    while not allow_overwrite and holds_run(run_dir):
        k += 1
        run_dir = run_dir_inside(root, f"{file_namespace}({k})", file_namespace)
    check_writable(run_dir)
    return run_dir


def check_writable(directory: Path) -> None:
    """Create `directory` if needed and prove it is writable by writing and deleting a probe."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = temp_path_for(directory / "write-probe")
        try:
            probe.write_bytes(b"ok")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as e:
        raise OutputError(
            f"output folder '{directory}' is not writable: {e.strerror or e}; "
            "choose another output folder or fix its permissions"
        ) from e


def frame_image(path: Path, size: tuple[int, int], even: tuple[int, int]) -> bytes:
    """Raw RGB bytes of one frame file, cropped to `even` (yuv420p needs even width and height)."""
    with Image.open(path) as im:
        if im.size != size:
            raise OutputError(
                f"cannot assemble the video: frame '{path}' is {im.size[0]}x{im.size[1]} but the "
                f"first frame is {size[0]}x{size[1]}; all frames of a video must have one size"
            )
        return im.convert("RGB").crop((0, 0, *even)).tobytes()


def assemble_video(frame_paths: list[Path], video_path: Path, *, fps: float) -> None:
    """Encode frames (in the given order) to an H.264 yuv420p MP4, written atomically."""
    with Image.open(frame_paths[0]) as im:
        size = im.size
    even = (size[0] - size[0] % 2, size[1] - size[1] % 2)  # crop 1 px off odd sides
    if min(even) == 0:
        raise OutputError(f"cannot assemble the video: frames are {size[0]}x{size[1]}; need >= 2x2")
    try:
        with atomic_path(video_path) as tmp:
            writer = imageio_ffmpeg.write_frames(
                str(tmp),
                even,
                fps=fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                quality=None,
                macro_block_size=2,
                ffmpeg_log_level="error",
                # -f: the temp name lacks .mp4; faststart lets browsers play it while loading
                output_params=["-f", "mp4", "-crf", str(VIDEO_CRF), "-movflags", "+faststart"],
            )
            writer.send(None)
            try:
                for path in frame_paths:  # streamed: only one frame is in memory at a time
                    writer.send(frame_image(path, size, even))
            finally:
                writer.close()  # waits for ffmpeg to finish (or stops it after an error)
    except (OSError, RuntimeError) as e:
        raise OutputError(f"cannot write the video '{video_path}': {e}") from e


def mux_audio(video_path: Path, audio_path, offset: float, seconds: float) -> None:
    """Put the sound of audio_path, from `offset` seconds, into the video as AAC, cut to the
    video's `seconds`; the video stream is copied, not encoded again. Written atomically."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    cmd += ["-i", str(video_path)]
    cmd += ["-ss", f"{offset:.6f}", "-t", f"{seconds:.6f}", "-i", str(audio_path)]
    cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]
    cmd += ["-movflags", "+faststart", "-f", "mp4"]
    try:
        with atomic_path(video_path) as tmp:
            run = subprocess.run(
                [*cmd, "-y", str(tmp)], capture_output=True, text=True, check=False
            )
            if run.returncode != 0:
                raise OutputError(
                    f"cannot put the sound of '{audio_path}' into '{video_path}': "
                    f"{run.stderr.strip()[-300:]}"
                )
    except OSError as e:
        raise OutputError(f"cannot write the video '{video_path}': {e}") from e


def assemble_gif(frame_paths: list[Path], gif_path: Path, *, fps: float) -> None:
    """Write frames as a looping animated GIF (each frame with its own 256-colour palette)."""
    duration_ms = max(20, round(1000 / fps))  # browsers slow down GIF frames shorter than 20 ms

    def frames():
        for path in frame_paths[1:]:  # one decoded frame at a time; Pillow keeps the quantised
            with Image.open(path) as im:
                yield im.convert("RGB").quantize(256)

    try:
        with atomic_path(gif_path) as tmp, Image.open(frame_paths[0]) as first:
            first.convert("RGB").quantize(256).save(
                tmp, format="GIF", save_all=True, append_images=frames(), loop=0,
                duration=duration_ms, optimize=False,
            )  # fmt: skip
    except OSError as e:
        raise OutputError(f"cannot write the GIF '{gif_path}': {e}") from e


class RunWriter:
    """Writes one run's folder: numbered PNG frames, settings.yaml, the final MP4 (and GIF)."""

    def __init__(
        self, run_dir: Path, *, fps: float, overwrite: bool, gif: bool = False, audio=None
    ):
        """Prepare `run_dir`; with `overwrite`, first remove files left there by an earlier run."""
        is_number = isinstance(fps, (int, float)) and not isinstance(fps, bool)
        if not (is_number and math.isfinite(fps) and fps > 0):
            raise OutputError(f"frames_per_second must be a positive number, got {fps!r}")
        self.run_dir = Path(run_dir)
        self.fps = float(fps)
        self.frames_dir = self.run_dir / FRAMES_DIR
        self.palettes_dir = self.run_dir / PALETTES_DIR
        self.settings_path = self.run_dir / SETTINGS_NAME
        self.video_path = self.run_dir / f"{self.run_dir.name}.mp4"
        self.gif_path = self.run_dir / f"{self.run_dir.name}.gif" if gif else None
        self.audio = audio  # (sound file, offset in seconds) to put into the video, or None
        self.last_written = None  # the frame file written last, if any
        check_writable(self.frames_dir)
        if overwrite:
            self.remove_previous_run()

    def remove_previous_run(self) -> None:
        """Delete only our own files (frames, video, settings, checkpoint, temp leftovers)."""
        ours = [self.video_path, self.settings_path, self.run_dir / CHECKPOINT_NAME]
        ours.append(self.run_dir / f"{self.run_dir.name}.gif")
        ours += self.frame_paths()
        ours += [p for p in self.palettes_dir.glob("*.png") if FRAME_NAME.fullmatch(p.name)]
        for folder in (self.run_dir, self.frames_dir, self.palettes_dir):
            ours += folder.glob(f".*{TEMP_SUFFIX}")
        for path in ours:
            if path.is_file():
                path.unlink()

    def frame_path(self, index: int) -> Path:
        """Path of frame `index` (zero-padded so names sort in frame order)."""
        return self.frames_dir / f"{index:06d}.png"

    def frame_paths(self) -> list[Path]:
        """All frame files in the run, in frame order."""
        frames = [p for p in self.frames_dir.glob("*.png") if FRAME_NAME.fullmatch(p.name)]
        return sorted(frames, key=lambda p: int(p.stem))

    def write_frame(self, index: int, image, metadata: dict) -> Path:
        """Write frame `index` as a PNG with embedded metadata, atomically; return its path."""
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"frame index must be a non-negative int, got {index!r}")
        path = self.frame_path(index)
        atomic_write_bytes(path, png_bytes(image, metadata))
        self.last_written = path
        return path

    def write_palette(self, index: int, swatch) -> Path:
        """Write the palette swatch of frame `index` into palettes/, atomically; its path."""
        path = self.palettes_dir / self.frame_path(index).name
        path.parent.mkdir(exist_ok=True)
        buf = io.BytesIO()
        to_pil(swatch).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def write_settings(self, settings_yaml_text: str) -> Path:
        """Write the run's settings.yaml atomically; return its path."""
        atomic_write_text(self.settings_path, settings_yaml_text)
        return self.settings_path

    def finish(self) -> Path | None:
        """Assemble `<run folder name>.mp4` (and .gif) from all frames; the MP4's path, or None
        when there are fewer than two frames."""
        frames = self.frame_paths()
        if len(frames) < 2:
            return None
        assemble_video(frames, self.video_path, fps=self.fps)
        if self.audio is not None:
            mux_audio(self.video_path, *self.audio, seconds=len(frames) / self.fps)
        if self.gif_path is not None:
            assemble_gif(frames, self.gif_path, fps=self.fps)
        return self.video_path
