"""Is a download host reachable? A fast probe, so an offline session fails in seconds.

huggingface_hub and open_clip retry for about a minute before giving up without a network;
a 3 s TCP probe of the host answers at once and lets the error say what to do instead.
HF_HUB_OFFLINE=1 counts as offline for the Hugging Face host, as huggingface_hub reads it.

Also here: the one check of a Hugging Face model id (depth models, hf-hub: perceptors), made
before huggingface_hub sees the id (it raises HFValidationError, a traceback, for bad ones),
and where a hub model's files are in the hub cache.

And the rules that model folders' JSON configs are checked by (a depth model's config.json, a
local-dir perceptor's open_clip_config.json): read within a size bound, each key's value tested
for type and range, unknown keys named. Nothing here imports torch.
"""

import contextlib
import math
import os
import re
import socket
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import shown

PROBE_TIMEOUT_S = 3.0
# Hugging Face's rules for 'ORG/NAME' (huggingface_hub.utils.validate_repo_id), in ASCII: each
# part 1 to 96 letters, digits, '_', '-' or '.', starting and ending with a letter, digit or '_';
# no '--' or '..' anywhere, no '.git' at the end
HUB_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
HUB_ID = re.compile(rf"{HUB_PART}/{HUB_PART}")
HUB_ID_RULES = (
    "allowed: ORG/NAME, each part 1 to 96 of A-Z a-z 0-9 _ - . with no '--' or '..', "
    "no '-' or '.' at either end, no '.git' ending"
)


def hub_id_problem(repo_id: str) -> str | None:
    """Why a Hugging Face hub would refuse an 'ORG/NAME' model id, or None when it is valid."""
    if not isinstance(repo_id, str) or not HUB_ID.fullmatch(repo_id):
        return HUB_ID_RULES
    if "--" in repo_id or ".." in repo_id or repo_id.endswith(".git"):
        return HUB_ID_RULES
    return None


def hub_cached_file(repo_id: str, filename: str, cache_dir=None) -> Path | None:
    """The path of a hub model's file in the hub cache (its `main` revision), or None: what
    huggingface_hub.try_to_load_from_cache finds, without importing its download machinery
    (most of a second)."""
    from huggingface_hub import constants

    repo = Path(cache_dir or constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    revision = "main"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        revision = (repo / "refs" / revision).read_text()
    if (repo / ".no_exist" / revision / filename).is_file():
        return None
    path = repo / "snapshots" / revision / filename
    return path if path.is_file() else None


def reachable(host, port=443, timeout=PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to host:port opens within timeout seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def surely_offline(host) -> bool:
    """True when the host cannot be reached; False when it can, or a proxy hides the answer."""
    if host is not None and hf_offline() and host == hf_host():
        return True  # huggingface_hub downloads nothing, reachable or not
    if host is None or os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return False  # behind a proxy a direct probe says nothing; let the download decide
    return not reachable(host)


def surely_offline_url(url: str) -> bool:
    """True when a URL's host cannot be reached (a fast TCP probe of the URL's own port)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.port is None:
        return surely_offline(parts.hostname)
    # surely_offline probes port 443; plain-http hosts (batbot.ai, eaidata.bmk.sh) may not
    # listen there, so probe the URL's own port
    proxies = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")
    if parts.hostname is None or any(os.environ.get(v) for v in proxies):
        return False  # behind a proxy a direct probe says nothing; let the download decide
    default = 443 if parts.scheme == "https" else 80
    return not reachable(parts.hostname, parts.port or default)


def hf_offline() -> bool:
    """Whether huggingface_hub was told to stay offline (HF_HUB_OFFLINE)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def hf_host() -> str | None:
    """The host of the Hugging Face endpoint huggingface_hub uses (honours HF_ENDPOINT)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    return urllib.parse.urlparse(constants.ENDPOINT).hostname


# --- model folders' JSON configs -------------------------------------------------------------

MAX_CONFIG_BYTES = 262_144  # a model's JSON config (transformers' and open_clip's: 1 to 10 KB)
REQUIRED = object()  # a rule's default for a key that must be present
Rule = tuple[Callable[[Any], bool], str, Any]  # (test, what is allowed, default or REQUIRED)


def read_json_config(path: Path) -> Any:
    """A model's JSON config, read within MAX_CONFIG_BYTES and the settings' JSON bounds (size,
    nesting); raises OSError or ValueError saying why not."""
    from ..io.bounded import load_json

    with open(path, "rb") as f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"it is over {MAX_CONFIG_BYTES} bytes")
    return load_json(data.decode("utf-8"))


def finite(value) -> bool:
    """A finite int or float (never a bool; an int too large for a float is not finite)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def whole(low: int, high: int, step: int = 1) -> Callable[[Any], bool]:
    """A test for a whole number (never a bool) from low to high, a multiple of step."""
    return lambda v: (
        isinstance(v, int) and not isinstance(v, bool) and low <= v <= high and v % step == 0
    )


def number(low: float, high: float) -> Callable[[Any], bool]:
    """A test for a finite number (never a bool) from low to high."""
    return lambda v: finite(v) and low <= v <= high


def one_of(*values) -> Callable[[Any], bool]:
    """A test for one of these values, of the same type (true is never 1, nor 1.0 1)."""
    return lambda v: any(type(v) is type(x) and v == x for x in values)


def boolean(v) -> bool:
    """true or false."""
    return isinstance(v, bool)


def checked(section: dict, rules: dict[str, Rule], where: str, problems: list[str]) -> dict:
    """The section's values for rules' keys (defaults filled in) that pass; a problem line per
    missing or bad key, quoting it and saying what is allowed."""
    out = {}
    for key, (ok, allowed, default) in rules.items():
        if key not in section and default is REQUIRED:
            problems.append(f"{where}.{key} is missing; allowed: {allowed}")
            continue
        value = section.get(key, default)
        if ok(value):
            out[key] = value
        else:
            problems.append(f"{where}.{key} {shown(value)}; allowed: {allowed}")
    return out


def unknown_keys(section: dict, known, where: str, problems: list[str], refused=None) -> None:
    """Problem lines for the keys of section that are not known: refused ones (a dict of key:
    reason) grouped by their reason, others listing the keys that are allowed."""
    refused, reasons, unknown = refused or {}, {}, []
    for key in section:
        if key in refused:
            reasons.setdefault(refused[key], []).append(shown(key))
        elif key not in known:
            unknown.append(shown(key))
    for why, keys in reasons.items():
        problems.append(f"{where}: {', '.join(keys)} not allowed: {why}")
    if unknown:
        problems.append(
            f"{where}: {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} not keys "
            f"pytti_nb can check; allowed keys: {', '.join(known)}"
        )
