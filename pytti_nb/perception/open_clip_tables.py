"""open_clip's model names and pretrained tags, read without importing open_clip (or torch).

Checking a perceptor spec (what `validate` does) needs open_clip's list of models, each model's
pretrained tags and where a tag's weights are cached; importing open_clip for them takes
seconds (it imports torch). open_clip_tables.json holds those tables as the installed
open_clip gives them, with its version; another installed version is asked directly (slow,
but never wrong). After upgrading open_clip, refresh the file with write_tables() (a test
compares it with the installed open_clip).
"""

import functools
import importlib.metadata
import json
from pathlib import Path

TABLES = Path(__file__).with_name("open_clip_tables.json")
DISTRIBUTION = "open_clip_torch"
TAG_KEYS = ("hf_hub", "url", "file")  # where a tag's weights come from (open_clip's keys)


def _installed_version() -> str | None:
    """The installed open_clip's version, from its metadata (no import)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def _snapshot() -> dict:
    """open_clip_tables.json."""
    return json.loads(TABLES.read_text(encoding="utf-8"))


def snapshot_is_current() -> bool:
    """Whether open_clip_tables.json is of the installed open_clip (checks read no torch)."""
    return _snapshot()["open_clip"] == _installed_version()


@functools.cache
def tables() -> dict:
    """{'open_clip': version, 'models': [name, ...], 'tags': {model: {tag: source}}}, where a
    source holds a tag's hf_hub, url or file and the hub file names open_clip tries
    ('hf_files'); from the snapshot when it is of the installed version."""
    snapshot = _snapshot()
    if snapshot["open_clip"] == _installed_version():
        return snapshot
    return tables_from_open_clip()


def tables_from_open_clip() -> dict:
    """The tables, asked of the installed open_clip (imports it, and torch)."""
    import open_clip
    from open_clip.pretrained import (
        HF_WEIGHTS_NAME,
        _get_safe_alternatives,
        get_pretrained_cfg,
        list_pretrained_tags_by_model,
    )

    tags = {}
    for model in open_clip.list_models():
        for tag in list_pretrained_tags_by_model(model):
            cfg = get_pretrained_cfg(model, tag)
            source = {key: cfg[key] for key in TAG_KEYS if cfg.get(key)}
            if source.get("hf_hub"):
                filename = source["hf_hub"].rpartition("/")[2] or HF_WEIGHTS_NAME
                source["hf_files"] = [*_get_safe_alternatives(filename), filename]
            tags.setdefault(model, {})[tag] = source
    return {"open_clip": open_clip.__version__, "models": open_clip.list_models(), "tags": tags}


def write_tables() -> None:
    """Write the installed open_clip's tables to open_clip_tables.json."""
    text = json.dumps(tables_from_open_clip(), indent=1)  # in open_clip's order
    TABLES.write_text(text + "\n", encoding="utf-8")


def model_names() -> list[str]:
    """open_clip.list_models()."""
    return tables()["models"]


def pretrained_tags(model: str) -> list[str]:
    """open_clip's pretrained tags of a model (list_pretrained_tags_by_model)."""
    return list(tables()["tags"].get(model, {}))


def tag_source(model: str, tag: str) -> dict:
    """Where a model's tag's weights come from: hf_hub (and hf_files), url or file; empty for
    a tag open_clip does not have (as its get_pretrained_cfg)."""
    return tables()["tags"].get(model, {}).get(tag, {})
