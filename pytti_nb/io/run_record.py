"""A run folder's record of the files its render wrote (.pytti-run.jsonl), so a later render
deletes or reuses only what is its own and unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from pathlib import Path

from .atomic import atomic_write_bytes, file_sha256

RECORD_NAME = ".pytti-run.jsonl"  # what the run's render wrote (RunRecord)
RECORD_KEY = "pytti_nb_run"  # the record's first line: {RECORD_KEY: RECORD_FORMAT, "run_id": ...}
RECORD_FORMAT = 1
MAX_RECORD_BYTES = 64 * 2**20  # about 300,000 files' lines
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
