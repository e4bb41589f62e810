"""Crash-safe file writes: readers (and killed runs) see the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

# Temp files are hidden, live beside their target and end in this suffix, so leftovers of a
# killed write are easy to recognise (RunWriter removes them when it reuses a folder).
TEMP_SUFFIX = ".partial"


def temp_path_for(path: Path) -> Path:
    """Create and return a new empty, uniquely named temp file beside `path`."""
    for _ in range(16):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            # os.open with 0o666 lets the umask decide the mode, unlike mkstemp's fixed 0o600,
            # so the final file gets the same permissions a plain open() would give it.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a unique temp file beside {path}")


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Persist a rename in `directory`; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename itself is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path to fill; success renames it onto `path`, an error deletes it."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        fsync_file(tmp)  # data must be on disk before the rename makes it visible
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, os.replace)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_create_bytes(path: Path, data: bytes) -> None:
    """Write `data` as the new file `path` atomically, never replacing one: FileExistsError
    when `path` exists (a link included), even one made while the data was being written."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        fsync_file(tmp)
        try:
            os.link(tmp, path)  # unlike os.replace, a link fails when the name is taken
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links (FAT, some FUSE mounts)
            # O_EXCL claims the name; the rename then fills it in one step
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    fsync_directory(path.parent)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, read in chunks (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: object, path: Path) -> None:
    """torch.save `obj` to `path` atomically, streaming into the temp file (no in-memory copy)."""
    import torch  # imported here so output.py, which uses this module, stays torch-free

    # Through a Python file, so a failed write (a full disk) surfaces as the OSError that
    # caused it, not only as torch's RuntimeError ("unexpected pos ...").
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(obj, f)
        except RuntimeError as e:
            cause = os_error_behind(e)
            if cause is None:
                raise
            raise cause from e


def os_error_behind(error: BaseException) -> OSError | None:
    """The OSError an exception was raised while handling (torch's writer wraps them), if any."""
    seen = 0
    while error is not None and seen < 16:
        if isinstance(error, OSError):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None
