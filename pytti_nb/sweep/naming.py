"""Run folder names from the values a render varies: readable, unique and safe on every OS."""

import hashlib
import json
import re
from collections import Counter

from ..io.namespace import namespace_problem

# Characters every OS, shell and ffmpeg take in a file name without quoting; others become '_'.
UNSAFE = re.compile(r"[^A-Za-z0-9._+@-]+")
MAX_LENGTH = 80  # run folders hold <name>.mp4; keep paths far from Windows' 260 characters
HASH_MARK = "~"  # never in a readable name, so a hashed name cannot equal a readable one


def value_text(value) -> str:
    """A value as it reads in a name: lists joined with '+', booleans in lower case."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "+".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render_names(values_list: list[dict]) -> list[str]:
    """One folder name per render from its varying values, e.g. 'cutouts-8_seed-3'.

    A name that had to be changed to be safe (characters replaced, shortened) or that would
    equal another's, even in another letter case, ends in '~' and a hash of the exact values.
    """
    readable = [_readable(values) for values in values_list]
    counts = Counter(text.lower() for text, exact in readable if exact)
    return [
        text if exact and counts[text.lower()] == 1 else _hashed(text, values)
        for (text, exact), values in zip(readable, values_list, strict=True)
    ]


def _readable(values: dict) -> tuple[str, bool]:
    """The safe text of a name, and whether it holds the values exactly."""
    text = "_".join(f"{name}-{value_text(value)}" for name, value in values.items()) or "render"
    safe = UNSAFE.sub("_", text)
    exact = safe == text and len(text) <= MAX_LENGTH and namespace_problem(text) is None
    return safe, exact


def _hashed(text: str, values: dict) -> str:
    """The text, shortened, with a hash of the exact values after it."""
    exact = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(exact.encode("utf-8")).hexdigest()[:8]
    stem = text[: MAX_LENGTH - len(digest) - 1].strip("._-") or "render"
    return f"{stem}{HASH_MARK}{digest}"
