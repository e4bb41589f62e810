"""The one bounded downloader, for the model files pytti_nb fetches itself (VQGAN's configs and
checkpoints), and the sha256 records that vouch for a downloaded file afterwards.

A download is bounded in time (each read, and the whole) and size, verified by sha256 when one
is given, validated by the caller, and renamed into place only when whole: an interrupted or
refused download leaves nothing behind. It is tried twice. Where no sha256 is published, the
hash of the first complete download is recorded beside the file in `<file>.sha256` (sha256sum's
format) and checked on every later load (trust on first use), so a corrupted or truncated cache
file is detected and downloaded again.

Files that huggingface_hub, open_clip or torch.hub download (depth models, perceptors, RAFT's
weights) are theirs to fetch, bounded by their own means.
"""

import contextlib
import hashlib
import http.client
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..io.atomic import atomic_path, atomic_write_text

READ_TIMEOUT_S = 30.0  # one socket read (and the connection) may stall this long
CHUNK = 2**20
TRIES = 2


class DownloadRefused(Exception):
    """What is served cannot be used (too big, not the file expected): another try would get
    the same."""


class DownloadFailed(Exception):
    """Every try failed in a way another might not (network, truncation, hash); `reasons` says
    how each went wrong."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class _Retryable(Exception):
    """A try went wrong in a way a second try may not."""


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    deadline_s: float,
    sha256: str | None = None,
    validate: Callable[[Path], None] = lambda path: None,
) -> str:
    """Stream url into dest, TRIES times at most; returns the sha256 of what was written.

    The file is renamed into place only when whole, no larger than max_bytes, received within
    deadline_s, matching sha256 (when given) and passing validate (which raises DownloadRefused
    to refuse it). Raises DownloadRefused or DownloadFailed.
    """
    print(f"pytti_nb: downloading {url} to {dest}", file=sys.stderr)
    reasons = []
    for _ in range(TRIES):
        try:
            return _download_once(url, dest, max_bytes, deadline_s, sha256, validate)
        except _Retryable as e:
            reasons.append(str(e))
    raise DownloadFailed(reasons)


def _download_once(url, dest: Path, max_bytes, deadline_s, sha256, validate) -> str:
    """One try of download."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "pytti_nb"})
    try:
        with atomic_path(dest) as tmp:  # an exception deletes the temp file
            with (
                urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response,
                open(tmp, "wb") as out,
            ):
                length = response.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if length is not None and length > max_bytes:
                    raise DownloadRefused(
                        f"{url} is {length} bytes, over the {max_bytes} expected at most"
                    )
                received = 0
                while chunk := response.read(CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadRefused(
                            f"{url} sent over {max_bytes} bytes, more than expected"
                        )
                    if time.monotonic() - start > deadline_s:
                        raise _Retryable(f"it took over {deadline_s:.0f} s")
                    digest.update(chunk)
                    out.write(chunk)
                if length is not None and received != length:
                    raise _Retryable(f"it stopped after {received} of {length} bytes")
            actual = digest.hexdigest()
            if sha256 is not None and actual != sha256.lower():
                raise _Retryable(f"its sha256 {actual} is not the expected {sha256}")
            validate(tmp)  # e.g. a web page served in place of a dead link is never kept
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, IncompleteRead
        raise _Retryable(str(e) or type(e).__name__) from e
    return actual


# --------------------------------------------------------------------------- sha256 records


def file_sha256(path: Path) -> str:
    """The sha256 of a file (about 1-2 s per GB: hashlib's SHA-256 runs near 1 GB/s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar(path: Path) -> Path:
    """The file holding a downloaded file's sha256 (sha256sum's format)."""
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded beside a downloaded file, or None."""
    try:
        return sidecar(path).read_text().split()[0].lower()
    except (OSError, IndexError):
        return None


def record_sha256(path: Path, sha256: str) -> None:
    """Record a file's sha256 beside it (`sha256sum -c` reads the record)."""
    atomic_write_text(sidecar(path), f"{sha256}  {path.name}\n")


def intact(path: Path, pinned: str | None) -> bool:
    """Whether a downloaded file has its pinned sha256, or else the one recorded beside it; a
    corrupt file is deleted with its record. A file with neither is trusted from now on."""
    expected = pinned or recorded_sha256(path)
    actual = file_sha256(path)
    if expected is None:
        # no pin and no record (placed by hand, or a run was killed between the rename and
        # the record): trust this file from now on
        record_sha256(path, actual)
        return True
    if actual == expected.lower():
        return True
    print(
        f"pytti_nb: {path} is corrupt (sha256 {actual}, expected {expected}); downloading it again",
        file=sys.stderr,
    )
    for stale in (path, sidecar(path)):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return False
