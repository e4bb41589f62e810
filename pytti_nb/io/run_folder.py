"""Run folders: their layout, claiming and locking one, what in it is a render's own, and the
message for a file of a run that could not be written.

Layout of one run (`output_root/<file_namespace>` or `<file_namespace>(k)`):
    frames/000000.png ...   one PNG per saved image (save_number); names sort in save order.
                            Named frames/ since they are the frames of the run's MP4, and
                            scripts and older run folders use that name.
    palettes/000000.png ... the Limited Palette swatch of each saved image, with show_palette
    settings.yaml           the run's settings
    checkpoint.pt           resume state (written by checkpoint.py)
    <run folder name>.mp4   assembled by RunWriter.finish() when there are two saves or more
    <run folder name>.gif   the same as an animated GIF, with save_gif
    .pytti-run.jsonl        the record: the run's id and each file written (RunRecord)
No torch import in io's run modules: they must work in a bare notebook kernel or UI process.

A render holds an exclusive lock on its run folder (flock on the folder itself, released by
the OS when the process ends, so a killed render leaves no stale lock). It writes and deletes
only inside the run folder, never through a link, and deletes only files its record lists
as written by a render there and unchanged since.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from ..errors import OutputError, reason, shown, shown_path
from .atomic import TEMP_SUFFIX, temp_path_for
from .namespace import run_dir_inside, validate_namespace
from .run_record import RECORD_NAME, RunRecord

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked there
    fcntl = None


FRAMES_DIR = "frames"
PALETTES_DIR = "palettes"
SETTINGS_NAME = "settings.yaml"
CHECKPOINT_NAME = "checkpoint.pt"
COST_NAME = "cost.json"  # the run's estimate and the time it took
SAVE_NAME = re.compile(r"\d{6,}\.png")  # a saved image's file name in frames/
SNAPSHOTS_DIR = "snapshots"  # the studio's snapshots (ui/files.py)
SNAPSHOT_NAME = re.compile(r"step_\d{6,}\.png")
RUN_SUBFOLDERS = (FRAMES_DIR, PALETTES_DIR, SNAPSHOTS_DIR)
TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}" + re.escape(TEMP_SUFFIX))  # atomic.temp_path_for's
MAX_SUFFIX = 10_000  # run folders '<ns>(1)' ... tried before giving up
FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


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
    for path in files_of(run_dir):
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


def files_of(run_dir: Path):
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


def unlink_file(path: Path) -> None:
    """Delete a regular file; links, folders and missing paths are left alone."""
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise OutputError(f"cannot delete the old file {shown_path(path)}: {reason(e)}") from e
