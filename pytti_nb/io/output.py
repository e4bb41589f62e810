"""Run folders: namespace resolution, PNG frames with embedded metadata, settings.yaml and the MP4.

Layout of one run (`output_root/<file_namespace>` or `<file_namespace>(k)`):
    frames/000000.png ...   one PNG per saved frame; names sort in frame order
    palettes/000000.png ... the Limited Palette swatch of each saved frame, with show_palette
    settings.yaml           the run's settings
    checkpoint.pt           resume state (written by checkpoint.py)
    <run folder name>.mp4   assembled by RunWriter.finish() when there is more than one frame
    <run folder name>.gif   the same as an animated GIF, with save_gif
    .pytti-run.jsonl        the record: the run's id and each file written (RunRecord)
No torch import here: this module must work in a bare notebook kernel or UI process.

A render holds an exclusive lock on its run folder (flock on the folder itself, released by
the OS when the process ends, so a killed render leaves no stale lock). It writes and deletes
only inside the run folder, never through a link, and deletes only files its record lists
as written by a render there and unchanged since.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import re
import secrets
import stat
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from pytti_nb.errors import MediaError, OutputError, SettingsError, reason, shown, shown_path
from pytti_nb.io.atomic import (
    TEMP_SUFFIX,
    atomic_create_bytes,
    atomic_path,
    atomic_write_bytes,
    file_sha256,
    temp_path_for,
)

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked there
    fcntl = None

METADATA_KEY = "pytti_nb"  # iTXt chunk holding the metadata as JSON
SUMMARY_KEY = "parameters"  # iTXt chunk with a human-readable summary (the name image viewers show)
FRAMES_DIR = "frames"
PALETTES_DIR = "palettes"
SETTINGS_NAME = "settings.yaml"
CHECKPOINT_NAME = "checkpoint.pt"
COST_NAME = "cost.json"  # the run's estimate and the time it took
RECORD_NAME = ".pytti-run.jsonl"  # what the run's render wrote (RunRecord)
RECORD_KEY = "pytti_nb_run"  # the record's first line: {RECORD_KEY: RECORD_FORMAT, "run_id": ...}
RECORD_FORMAT = 1
MAX_RECORD_BYTES = 64 * 2**20  # about 300,000 files' lines
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
FORCE = "give --force to replace it"  # how a command line consents to replacing a file
PNG_COMPRESS_LEVEL = 4  # zlib level 4 is ~3x faster than the default 6 for a few % larger files
VIDEO_CRF = 17  # x264 constant quality; 17 is visually lossless at a fraction of crf 1's size
FRAME_NAME = re.compile(r"\d{6,}\.png")
SNAPSHOTS_DIR = "snapshots"  # the studio's snapshots (ui/files.py)
SNAPSHOT_NAME = re.compile(r"step_\d{6,}\.png")
RUN_SUBFOLDERS = (FRAMES_DIR, PALETTES_DIR, SNAPSHOTS_DIR)
TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}" + re.escape(TEMP_SUFFIX))  # atomic.temp_path_for's
MAX_NAMESPACE_CHARS = 400
MAX_FOLDER_NAME_BYTES = 200  # leaves room for '(k)' and the temp files' names within 255
MAX_SUFFIX = 10_000  # run folders '<ns>(1)' ... tried before giving up
FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
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
    from pytti_nb.config.settings import size_problem

    problem = size_problem(metadata)
    if problem:
        raise OutputError(f"{where}: its metadata is too large ({problem})")
    return metadata


def namespace_problem(ns: object) -> str | None:
    """Say what is wrong with a file_namespace value, or None if it is allowed."""
    if not isinstance(ns, str):
        return f"must be text, not {type(ns).__name__}"
    if not ns.strip():
        return "is empty"
    if len(ns) > MAX_NAMESPACE_CHARS:
        return f"is {len(ns)} characters long; at most {MAX_NAMESPACE_CHARS}"
    if ns.startswith("/"):
        return "is an absolute path"
    for part in ns.split("/"):
        problem = _folder_name_problem(part)
        if problem:
            return problem
    return None


def _folder_name_problem(part: str) -> str | None:
    """What is wrong with one folder name of a file_namespace, or None."""
    if not part:
        return "has an empty folder name (a trailing or doubled '/')"
    if set(part) == {"."}:
        return f"contains {part!r}, which would leave or alias the output folder"
    bad = sorted({c for c in part if c in NAMESPACE_FORBIDDEN or not c.isprintable()})
    if bad:
        return f"contains the character(s) {shown(''.join(bad[:8]))}"
    size = len(part.encode("utf-8", "surrogatepass"))
    if size > MAX_FOLDER_NAME_BYTES:
        return (
            f"has the folder name {shown(part, 40)}, {size} bytes long; at most "
            f"{MAX_FOLDER_NAME_BYTES} (file systems store 255, and pytti_nb adds to it)"
        )
    if part != part.strip():
        return f"has the folder name {shown(part)}, which starts or ends with a space"
    if part.endswith("."):
        return f"has the folder name {shown(part)}, which ends in '.' (Windows drops it)"
    if part.split(".")[0].upper() in WINDOWS_DEVICES:
        return f"has the folder name {shown(part)}, a device name on Windows"
    return None


def validate_namespace(ns: str) -> None:
    """Raise OutputError unless `ns` is a safe relative file_namespace (pure: no filesystem)."""
    problem = namespace_problem(ns)
    if problem:
        raise OutputError(f"file_namespace {shown(ns)} {problem}; {NAMESPACE_ALLOWED}")


def run_dir_inside(root: Path, name: str, file_namespace: str) -> Path:
    """Resolve `root/name`, raising OutputError if symlinks take it outside `root`."""
    run_dir = (root / name).resolve()
    if not run_dir.is_relative_to(root):
        raise OutputError(
            f"file_namespace {shown(file_namespace)} resolves to {shown_path(run_dir)}, outside "
            f"the output folder {shown_path(root)} (through a symlink); {NAMESPACE_ALLOWED}"
        )
    return run_dir


def holds_run(path: Path) -> bool:
    """True if `path` is taken: a file, or a folder with anything in it."""
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def claim_run_dir(
    output_root: Path, file_namespace: str, allow_overwrite: bool
) -> tuple[Path, RunLock, list[str]]:
    """Create and lock the run folder of a new render; notes on folders passed over.

    Without allow_overwrite: the first of `<ns>`, `<ns>(1)`, ... that is empty and not in use.
    With it: `<ns>` when it holds only files its record lists, unchanged since (else the first
    such `<ns>(k)`), and an OutputError when another render is writing there.
    """
    validate_namespace(file_namespace)
    root = Path(output_root).resolve()
    notes = []
    for k in range(MAX_SUFFIX):
        name = file_namespace if k == 0 else f"{file_namespace}({k})"
        run_dir = run_dir_inside(root, name, file_namespace)
        if holds_run(run_dir) and not (allow_overwrite and _reusable(run_dir, notes)):
            continue
        check_writable(run_dir)
        lock = RunLock.acquire(run_dir)
        if lock is None and allow_overwrite:
            raise OutputError(f"{busy_message(run_dir)}; wait for it to finish, or stop it")
        if lock is not None and (allow_overwrite or not holds_run(run_dir)):
            return run_dir, lock, notes
        if lock is not None:
            lock.release()  # another render took this folder while we looked
    raise OutputError(
        f"no free run folder for file_namespace {shown(file_namespace)} in "
        f"{shown_path(root)}: {MAX_SUFFIX} are taken; choose another name"
    )


def _reusable(run_dir: Path, notes: list) -> bool:
    """Whether allow_overwrite may reuse a folder: everything in it is a file its render wrote,
    unchanged since (with a note naming the first file that is not)."""
    foreign = foreign_file(run_dir)
    if foreign is None:
        return True
    notes.append(
        f"{shown_path(run_dir)} holds {foreign}, so allow_overwrite does not reuse it (nothing "
        "there is deleted); the run goes to the next free folder"
    )
    return False


def is_run_folder(run_dir: Path) -> bool:
    """Whether a folder holds nothing but files its render wrote, as its record lists them and
    unchanged since (and its frames/, palettes/, snapshots/ folders), none of it a link."""
    return foreign_file(run_dir) is None


def foreign_file(run_dir: Path) -> str | None:
    """What in a run folder its render did not write (a file not in the folder's record, one
    changed since, a link, another folder), described; None when there is nothing of the kind."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink() or not run_dir.is_dir():
        return f"{shown_path(run_dir)}, which is not a folder"
    record = RunRecord.read(run_dir)
    for path in _files_of(run_dir):
        name = path.relative_to(run_dir).as_posix()
        if path.is_symlink() or not path.is_file():
            return f"{shown(name)}, which is a link or not a plain file"
        if path.name == RECORD_NAME and path.parent == run_dir and record is not None:
            continue
        if _is_temp(path.name):
            continue  # a write of ours cut short (atomic.py's temp names)
        if record is None:
            return (
                f"{shown(name)} and no record of the files pytti_nb wrote there (a folder "
                "from an older pytti_nb, or not a run folder)"
            )
        if not record.owns(path):
            return f"{shown(name)}, which pytti_nb did not write there or which changed since"
    return None


def _files_of(run_dir: Path):
    """Every entry of a run folder but its known subfolders, and the entries of those."""
    for entry in os.scandir(run_dir):
        path = Path(entry.path)
        if entry.name in RUN_SUBFOLDERS and entry.is_dir(follow_symlinks=False):
            yield from (Path(e.path) for e in os.scandir(path))
        else:
            yield path


def _is_temp(name: str) -> bool:
    """Whether a name is one of atomic.py's temp files."""
    return TEMP_NAME.fullmatch(name) is not None


class RunRecord:
    """A run folder's record of the files its render wrote: a first line with the run's id,
    then one JSON line per file written (its path in the folder, size, mtime_ns, SHA-256; a
    later line for a file replaces the earlier). One line is appended per write, so a long
    animation's record costs O(1) per frame; a line cut short by a killed write is skipped,
    which only ever makes a file count as not ours."""

    def __init__(self, run_dir: Path, run_id: str, files: dict):
        self.run_dir, self.run_id, self.files = Path(run_dir), run_id, files

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord | None:
        """The folder's record, or None when it has none (or none that reads as one)."""
        try:
            fd = os.open(Path(run_dir) / RECORD_NAME, os.O_RDONLY | NOFOLLOW)
        except (OSError, ValueError):
            return None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            data = f.read(MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            return None
        lines = [_json_line(line) for line in data.split(b"\n")]
        header = lines[0] if lines else None
        if not (header and header.get(RECORD_KEY) == RECORD_FORMAT):
            return None
        if not isinstance(header.get("run_id"), str):
            return None
        files = {e["file"]: e for e in lines[1:] if e and _entry_ok(e)}
        return cls(run_dir, header["run_id"], files)

    @classmethod
    def start(cls, run_dir: Path) -> RunRecord:
        """A new record with a new run id. Not synced to disk: a record lost or cut short by a
        crash only makes the folder's files count as not ours, never the other way round."""
        run_id = secrets.token_hex(8)
        header = json.dumps({RECORD_KEY: RECORD_FORMAT, "run_id": run_id}).encode()
        path = Path(run_dir) / RECORD_NAME
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o666)
        except FileExistsError:  # a record that does not read as one: a write of ours cut short
            atomic_write_bytes(path, header)
        else:
            try:
                os.write(fd, header)
            finally:
                os.close(fd)
        return cls(run_dir, run_id, {})

    def add(self, path: Path, data: bytes | None = None) -> None:
        """Record a file just written (`data`: its bytes when at hand, else it is read back).
        A record that cannot take the line leaves the file counted as not ours."""
        path = Path(path)
        name = path.relative_to(self.run_dir).as_posix()
        with contextlib.suppress(OSError):
            info = os.stat(path, follow_symlinks=False)
            digest = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path)
            entry = {"file": name, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
            entry["sha256"] = digest
            # each line starts with a newline, so a line cut short never spoils the next one
            line = ("\n" + json.dumps(entry, ensure_ascii=False)).encode()
            fd = os.open(self.run_dir / RECORD_NAME, os.O_WRONLY | os.O_APPEND | NOFOLLOW)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self.files[name] = entry

    def owns(self, path: Path) -> bool:
        """Whether `path` is a plain file this record lists, unchanged since it was written:
        the same size and mtime_ns, or (a copy or a sync client may change the time alone)
        the same size and SHA-256."""
        path = Path(path)
        try:
            entry = self.files.get(path.relative_to(self.run_dir).as_posix())
            info = os.lstat(path)
        except (OSError, ValueError):
            return False
        if entry is None or not stat.S_ISREG(info.st_mode) or info.st_size != entry["size"]:
            return False
        if info.st_mtime_ns == entry["mtime_ns"]:
            return True
        try:
            return file_sha256(path) == entry["sha256"]
        except OSError:
            return False


def _json_line(line: bytes) -> dict | None:
    """One line of a record as a JSON object, or None."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _entry_ok(entry: dict) -> bool:
    """Whether a record line has a file's name, size, mtime_ns and SHA-256 of the right kinds."""
    kinds = {"file": str, "size": int, "mtime_ns": int, "sha256": str}
    return all(isinstance(entry.get(k), kind) for k, kind in kinds.items())


def write_user_file(path, data: bytes, *, what: str, inputs=(), replace=False, consent=FORCE):
    """Write a file the user named: never over an input, never over an existing file unless
    `replace` (the user's consent: how to give it is `consent`); atomically either way."""
    path = Path(path).expanduser()
    user_file_check(path, what=what, inputs=inputs, replace=replace, consent=consent)
    try:
        if replace:
            atomic_write_bytes(path, data)  # a link at `path` is replaced, never written through
        else:
            atomic_create_bytes(path, data)
    except FileExistsError:
        raise SettingsError([_exists_message(path, what, consent)]) from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise OutputError(f"cannot write {what} {shown_path(path)}: {reason(e)}") from e
    return path


def user_file_check(path: Path, *, what: str, inputs=(), replace=False, consent=FORCE):
    """Raise SettingsError when writing `path` would replace an input, a folder, or (without
    `replace`) any existing file."""
    path = Path(path)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise SettingsError(
                [
                    f"{what} {shown_path(path)} is the input {shown_path(source)}; pytti_nb never "
                    "writes over what it reads: give the output another name"
                ]
            )
    if path.is_dir():
        raise SettingsError([f"{what} {shown_path(path)} is a folder; give a file name"])
    if not replace and (path.exists() or path.is_symlink()):
        raise SettingsError([_exists_message(path, what, consent)])


def _exists_message(path: Path, what: str, consent: str) -> str:
    """The message for an output file that exists already."""
    return f"{what} {shown_path(path)} exists; give a new name, or {consent}"


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links, or hard links)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


class RunLock:
    """An exclusive lock on a run folder: flock on the folder itself, so it adds no file, and
    the OS releases it when the process ends (a killed render leaves no stale lock)."""

    def __init__(self, fd: int | None):
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: Path) -> RunLock | None:
        """The lock, or None when another render holds it. Where the file system cannot
        lock (some network and FUSE mounts, Windows), an unlocked RunLock."""
        if fcntl is None:
            return cls(None)
        try:
            fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as e:
            raise OutputError(
                f"cannot open the run folder {shown_path(run_dir)}: {e.strerror}"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            return cls(None)
        return cls(fd)

    def release(self) -> None:
        """Give the lock up (closing the folder's descriptor); safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self):
        self.release()


def busy_message(run_dir: Path) -> str:
    """The message for a run folder another render is writing to."""
    return f"the run folder {shown_path(run_dir)} is in use by another render"


def write_error(what: str, path: Path, error: BaseException, run_dir=None) -> OutputError:
    """The OutputError for a file of a run (in run_dir, by default the file's folder) that
    could not be written, naming it and the cause, and how to continue after a full disk."""
    hint = ""
    if getattr(error, "errno", None) in FULL_DISK:
        folder = shown_path(run_dir if run_dir is not None else Path(path).parent)
        hint = (
            "; the last checkpoint is kept: free some space, then continue with "
            f"`python -m pytti_nb render --resume {folder}`"
        )
    elif isinstance(error, FileNotFoundError):
        hint = " (was the output folder moved or deleted?)"
    return OutputError(f"cannot write {what} {shown_path(path)}: {reason(error)}{hint}")


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
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise OutputError(
            f"output folder {shown_path(directory)} is not writable: "
            f"{reason(e)}; "
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
    try:
        with Image.open(frame_paths[0]) as im:
            size = im.size
    except OSError as e:
        raise OutputError(
            f"cannot assemble the video: frame {shown_path(frame_paths[0])} is not a readable "
            f"image ({e})"
        ) from e
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
        raise write_error("video", video_path, e) from e


DISK_WORDS = ("No space left", "Permission denied", "Read-only file system", "Disk quota")


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
                said = run.stderr.strip()[-300:]
                # ffmpeg fails for the sound's sake (unreadable, no audio stream) far more
                # often than for the disk's; only the disk's words make it an output error
                kind = OutputError if any(w in said for w in DISK_WORDS) else MediaError
                raise kind(
                    f"input_audio: cannot put the sound of {shown_path(audio_path)} into "
                    f"{shown_path(video_path)} (the frames and the silent video are kept): {said}"
                )
    except OSError as e:
        raise write_error("video", video_path, e) from e


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
        raise write_error("GIF", gif_path, e) from e


class RunWriter:
    """Writes one run's folder: numbered PNG frames, settings.yaml, the final MP4 (and GIF).

    It holds the folder's lock from creation until finish() or release(), writes only inside
    the folder (never through a link) and turns every failed write into an OutputError that
    names the file and the cause; atomic writes leave the previous file and no temp file.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        fps: float,
        overwrite: bool,
        gif: bool = False,
        audio=None,
        lock: RunLock | None = None,
    ):
        """Prepare `run_dir`; with `overwrite`, first remove files left there by an earlier run.
        `lock` is the folder's lock when the caller holds it already (claim_run_dir)."""
        is_number = isinstance(fps, (int, float)) and not isinstance(fps, bool)
        if not (is_number and math.isfinite(fps) and fps > 0):
            raise OutputError(f"frames_per_second must be a positive number, got {shown(fps)}")
        self.run_dir = Path(run_dir)
        self.fps = float(fps)
        self.frames_dir = self.run_dir / FRAMES_DIR
        self.palettes_dir = self.run_dir / PALETTES_DIR
        self.settings_path = self.run_dir / SETTINGS_NAME
        self.cost_path = self.run_dir / COST_NAME
        self.video_path = self.run_dir / f"{self.run_dir.name}.mp4"
        self.gif_path = self.run_dir / f"{self.run_dir.name}.gif" if gif else None
        self.audio = audio  # (sound file, offset in seconds) to put into the video, or None
        self.last_written = None  # the frame file written last, if any
        self.written = []  # every file this writer wrote, so discard() can take them back
        self.record = None  # what the folder's render wrote (RunRecord)
        self.earlier_run_id = None  # the run id of the record found in the folder, if any
        self._no_link(self.run_dir)
        check_writable(self.run_dir)
        self._real = Path(os.path.realpath(self.run_dir))
        self.lock = lock or RunLock.acquire(self.run_dir)
        if self.lock is None:
            raise OutputError(f"{busy_message(self.run_dir)}; wait for it to finish, or stop it")
        try:
            self._inside(self.frames_dir)
            check_writable(self.frames_dir)
            if overwrite:
                self.remove_previous_run()
            self._open_record()
        except BaseException:
            self.release()
            raise

    def _open_record(self) -> None:
        """Go on with the folder's record (a resume); a new one begins with the first write."""
        self._inside(self.run_dir)
        self.record = RunRecord.read(self.run_dir)
        if self.record is not None:
            self.earlier_run_id = self.record.run_id

    def _begun_record(self) -> RunRecord:
        """The folder's record, begun (with a new run id) when it has none yet."""
        if self.record is None:
            try:
                self.record = RunRecord.start(self.run_dir)
            except OSError as e:
                raise write_error("record", self.run_dir / RECORD_NAME, e, self.run_dir) from e
        return self.record

    @property
    def run_id(self) -> str:
        """The id of the run this folder's record belongs to (checkpoints carry it too)."""
        return self._begun_record().run_id

    def owns(self, path: Path) -> bool:
        """Whether a file in the run folder is one its record lists, unchanged since."""
        return self.record is not None and self.record.owns(path)

    def recorded(self, path: Path, data: bytes | None = None) -> Path:
        """Add a file just written in the run folder to its record; its path."""
        self._begun_record().add(path, data)
        return path

    def release(self) -> None:
        """Give up the run folder's lock (the render is over)."""
        if self.lock is not None:
            self.lock.release()

    def discard(self) -> None:
        """Take back a render that failed before saving anything it could resume from: delete
        the files this writer wrote (unchanged since), its record when nothing else is left,
        then the folders left empty, run folder included."""
        for path in reversed(self.written):
            if self.owns(path):
                with contextlib.suppress(OutputError):
                    _unlink_file(path)
        record = self.run_dir / RECORD_NAME
        left = [p for p in _files_of(self.run_dir) if p != record] if self.run_dir.is_dir() else []
        if not left and self.earlier_run_id is None:
            with contextlib.suppress(OutputError):
                _unlink_file(record)
        for folder in (self.palettes_dir, self.frames_dir, self.run_dir):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

    def _no_link(self, path: Path) -> None:
        """Raise OutputError when `path` is a link: a render writes only where it seems to."""
        if path.is_symlink():
            raise OutputError(
                f"{shown_path(path)} is a link; pytti_nb writes only inside the run folder, "
                "never through a link: remove the link or choose another folder"
            )

    def _inside(self, folder: Path) -> Path:
        """`folder` (the run folder or one of its subfolders), checked: no link, and really
        inside the run folder."""
        self._no_link(folder)
        real = Path(os.path.realpath(folder))
        if real != self._real and real.parent != self._real:
            raise OutputError(
                f"{shown_path(folder)} leads outside the run folder {shown_path(self.run_dir)}; "
                "pytti_nb writes only inside it"
            )
        return folder

    def remove_previous_run(self) -> None:
        """Delete an earlier render's files, as its record lists them, and only in a folder
        that holds nothing else (unchanged since); never through a link."""
        foreign = foreign_file(self.run_dir)
        if foreign is not None:
            raise OutputError(
                f"{shown_path(self.run_dir)} holds {foreign}; it is not reused (nothing was "
                "deleted): choose another file_namespace"
            )
        for folder in (self.run_dir, *(self.run_dir / name for name in RUN_SUBFOLDERS)):
            if folder.is_dir():
                self._inside(folder)
        for path in _files_of(self.run_dir):
            _unlink_file(path)  # each one checked above: recorded and unchanged, or our temp

    def frame_path(self, index: int) -> Path:
        """Path of frame `index` (zero-padded so names sort in frame order)."""
        return self.frames_dir / f"{index:06d}.png"

    def frame_paths(self) -> list[Path]:
        """All frame files in the run, in frame order."""
        if not self.frames_dir.is_dir():
            return []
        frames = [p for p in self.frames_dir.glob("*.png") if FRAME_NAME.fullmatch(p.name)]
        return sorted(frames, key=lambda p: int(p.stem))

    def write_frame(self, index: int, image, metadata: dict) -> Path:
        """Write frame `index` as a PNG with embedded metadata, atomically; return its path."""
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"frame index must be a non-negative int, got {index!r}")
        path = self.frame_path(index)
        self._write("frame", path, png_bytes(image, metadata))
        self.last_written = path
        return path

    def write_palette(self, index: int, swatch) -> Path:
        """Write the palette swatch of frame `index` into palettes/, atomically; its path."""
        path = self.palettes_dir / self.frame_path(index).name
        buf = io.BytesIO()
        to_pil(swatch).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        self._write("palette swatch", path, buf.getvalue())
        return path

    def write_settings(self, settings_yaml_text: str) -> Path:
        """Write the run's settings.yaml atomically; return its path."""
        self._write("settings", self.settings_path, settings_yaml_text.encode("utf-8"))
        return self.settings_path

    def write_cost(self, record: dict) -> Path:
        """Write the run's cost.json (its estimate and the time it took) atomically; its path."""
        self._write("cost record", self.cost_path, json.dumps(record, indent=1).encode())
        return self.cost_path

    def _write(self, what: str, path: Path, data: bytes) -> None:
        """Write a file of the run atomically, or raise OutputError naming it and the cause."""
        try:
            if path.parent != self.run_dir:
                self._inside(path.parent).mkdir(exist_ok=True)
            self._inside(path.parent)
            atomic_write_bytes(path, data)
            self.written.append(path)
        except OSError as e:
            raise write_error(what, path, e, self.run_dir) from e
        self.recorded(path, data)

    def finish(self) -> Path | None:
        """Assemble `<run folder name>.mp4` (and .gif) from all frames; the MP4's path, or None
        when there are fewer than two frames. Releases the folder's lock."""
        try:
            frames = self.frame_paths()
            if len(frames) < 2:
                return None
            self._inside(self.run_dir)
            assemble_video(frames, self.video_path, fps=self.fps)
            self.recorded(self.video_path)  # the silent video is ours even if the mux fails
            if self.audio is not None:
                mux_audio(self.video_path, *self.audio, seconds=len(frames) / self.fps)
                self.recorded(self.video_path)
            if self.gif_path is not None:
                assemble_gif(frames, self.gif_path, fps=self.fps)
                self.recorded(self.gif_path)
            return self.video_path
        finally:
            self.release()


def _unlink_file(path: Path) -> None:
    """Delete a regular file; links, folders and missing paths are left alone."""
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise OutputError(f"cannot delete the old file {shown_path(path)}: {reason(e)}") from e
