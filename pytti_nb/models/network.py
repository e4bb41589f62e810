"""Is a download host reachable? A fast probe, so an offline session fails in seconds.

huggingface_hub and open_clip retry for about a minute before giving up without a network;
a 3 s TCP probe of the host answers at once and lets the error say what to do instead.
"""

import os
import socket
import urllib.parse

PROBE_TIMEOUT_S = 3.0


def reachable(host, port=443, timeout=PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to host:port opens within timeout seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def surely_offline(host) -> bool:
    """True when the host cannot be reached; False when it can, or a proxy hides the answer."""
    if host is None or os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return False  # behind a proxy a direct probe says nothing; let the download decide
    return not reachable(host)


def hf_host() -> str | None:
    """The host of the Hugging Face endpoint huggingface_hub uses (honours HF_ENDPOINT)."""
    from huggingface_hub import constants

    return urllib.parse.urlparse(constants.ENDPOINT).hostname
