"""Is a download host reachable? A fast probe, so an offline session fails in seconds.

huggingface_hub and open_clip retry for about a minute before giving up without a network;
a 3 s TCP probe of the host answers at once and lets the error say what to do instead.
HF_HUB_OFFLINE=1 counts as offline for the Hugging Face host, as huggingface_hub reads it.

Also here: the one check of a Hugging Face model id (depth models, hf-hub: perceptors), made
before huggingface_hub sees the id (it raises HFValidationError, a traceback, for bad ones).
"""

import os
import re
import socket
import urllib.parse

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
