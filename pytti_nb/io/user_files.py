"""Files the user names (a settings file, a shared notebook): never written over an input, nor
over an existing file without the user's consent; atomically either way."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError, SettingsError, reason, shown_path
from .atomic import atomic_create_bytes, atomic_write_bytes

FORCE = "give --force to replace it"  # how a command line consents to replacing a file


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
