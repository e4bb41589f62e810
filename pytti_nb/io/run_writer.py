"""RunWriter: one render's run folder, written: its saved images, palette swatches, settings,
cost record, and at the end the MP4 (and GIF)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path

from ..errors import OutputError, shown, shown_path
from .atomic import atomic_write_bytes
from .png_meta import PNG_COMPRESS_LEVEL, png_bytes, to_pil
from .run_folder import (
    COST_NAME,
    FRAMES_DIR,
    PALETTES_DIR,
    RUN_SUBFOLDERS,
    SAVE_NAME,
    SETTINGS_NAME,
    RunLock,
    busy_message,
    check_writable,
    files_of,
    foreign_file,
    unlink_file,
    write_error,
)
from .run_record import RECORD_NAME, RunRecord
from .video_out import assemble_gif, assemble_video, mux_audio


class RunWriter:
    """Writes one run's folder: numbered saved images (PNG), settings.yaml, the final MP4 (and GIF).

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
        interpolate: int = 1,
        between=None,
    ):
        """Prepare `run_dir`; with `overwrite`, first remove files left there by an earlier run.
        `lock` is the folder's lock when the caller holds it already (claim_run_dir). With
        `interpolate` N > 1 the MP4 plays at N times `fps`, the frames between saves made by
        optical flow: `between()` gives (loads) the maker of those frames (`between(a, b, N)`:
        animation.interpolate.inbetweens with its flow) when the video is made."""
        is_number = isinstance(fps, (int, float)) and not isinstance(fps, bool)
        if not (is_number and math.isfinite(fps) and fps > 0):
            raise OutputError(f"frames_per_second must be a positive number, got {shown(fps)}")
        self.run_dir = Path(run_dir)
        self.fps = float(fps)
        self.saves_dir = self.run_dir / FRAMES_DIR
        self.palettes_dir = self.run_dir / PALETTES_DIR
        self.settings_path = self.run_dir / SETTINGS_NAME
        self.cost_path = self.run_dir / COST_NAME
        self.video_path = self.run_dir / f"{self.run_dir.name}.mp4"
        self.gif_path = self.run_dir / f"{self.run_dir.name}.gif" if gif else None
        self.audio = audio  # (sound file, offset in seconds) to put into the video, or None
        self.interpolate, self.between = interpolate, between  # interpolate_output, its loader
        self.last_save = None  # the saved image written last, if any
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
            self._inside(self.saves_dir)
            check_writable(self.saves_dir)
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
                    unlink_file(path)
        record = self.run_dir / RECORD_NAME
        left = [p for p in files_of(self.run_dir) if p != record] if self.run_dir.is_dir() else []
        if not left and self.earlier_run_id is None:
            with contextlib.suppress(OutputError):
                unlink_file(record)
        for folder in (self.palettes_dir, self.saves_dir, self.run_dir):
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
        for path in files_of(self.run_dir):
            unlink_file(path)  # each one checked above: recorded and unchanged, or our temp

    def save_path(self, save_number: int) -> Path:
        """Path of save `save_number` (zero-padded so names sort in save order)."""
        return self.saves_dir / f"{save_number:06d}.png"

    def save_paths(self) -> list[Path]:
        """All saved images of the run, in save order."""
        if not self.saves_dir.is_dir():
            return []
        saves = [p for p in self.saves_dir.glob("*.png") if SAVE_NAME.fullmatch(p.name)]
        return sorted(saves, key=lambda p: int(p.stem))

    def write_save(self, save_number: int, image, metadata: dict) -> Path:
        """Write save `save_number` as a PNG with embedded metadata, atomically; its path."""
        if not isinstance(save_number, int) or save_number < 0:
            raise ValueError(f"save_number must be a non-negative int, got {save_number!r}")
        path = self.save_path(save_number)
        self._write("saved image", path, png_bytes(image, metadata))
        self.last_save = path
        return path

    def write_palette(self, save_number: int, swatch) -> Path:
        """Write the palette swatch of save `save_number` into palettes/, atomically; its path."""
        path = self.palettes_dir / self.save_path(save_number).name
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
        """Assemble `<run folder name>.mp4` (and .gif) from all saves, each one frame of the
        video (the MP4 with in-betweens under interpolate_output); the MP4's path, or None
        when there are fewer than two. Releases the lock."""
        try:
            frames = self.save_paths()
            if len(frames) < 2:
                return None
            self._inside(self.run_dir)
            between = self.between() if self.interpolate > 1 else None
            assemble_video(
                frames, self.video_path, fps=self.fps * self.interpolate,
                interpolate=self.interpolate, between=between,
            )  # fmt: skip
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
