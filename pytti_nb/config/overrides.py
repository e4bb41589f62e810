"""`--set KEY=VALUE` assignments applied on top of a settings mapping."""

import yaml

from ..errors import SettingsError, shown
from ..io.bounded import load_yaml
from .schema import schema_by_name

# Kinds whose --set value is the text typed, not YAML (file_namespace=010 stays '010').
TEXT_KINDS = (
    "text", "path", "scenes", "direct_prompts", "schedule", "motion", "quaternion",
    "pixel_weight", "clip_weight", "choice",
)  # fmt: skip


def apply_overrides(data: dict, assignments) -> dict:
    """Apply 'key=value' strings on top of a settings mapping: the value of a text setting is
    the text given (one pair of YAML quotes removed), any other value is read as YAML."""
    out = dict(data)
    problems = []
    infos = schema_by_name()
    for item in assignments:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set {shown(item)}: expected KEY=VALUE, e.g. --set width=256")
            continue
        info = infos.get(key)
        if info is not None and info.kind in TEXT_KINDS:
            out[key] = _unquoted(text)
            continue
        try:
            out[key] = load_yaml(text) if text.strip() else ""
        except yaml.YAMLError:
            out[key] = text
    if problems:
        raise SettingsError(problems)
    return out


def _unquoted(text: str) -> str:
    """Text as typed, or the string inside it when it is one quoted YAML scalar."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in "'\"" or stripped[-1] != stripped[0]:
        return text
    try:
        value = load_yaml(stripped)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str) else text
