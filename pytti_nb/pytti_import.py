"""Import a PyTTI (pytti-core) settings file: map its keys onto ours and say what is dropped."""

from .errors import SettingsError
from .schema import schema_by_name

# PyTTI's perceptor flags and the open_clip spec each one means.
PERCEPTOR_FLAGS = {
    "ViTB32": "ViT-B-32@openai",
    "ViTB16": "ViT-B-16@openai",
    "ViTL14": "ViT-L-14@openai",
    "ViTL14_336px": "ViT-L-14-336@openai",
    "RN50": "RN50@openai",
    "RN101": "RN101@openai",
    "RN50x4": "RN50x4@openai",
    "RN50x16": "RN50x16@openai",
    "RN50x64": "RN50x64@openai",
}
RENAMED = {"models_parent_dir": "models_cache_dir"}
# Values PyTTI accepted under another spelling: its validator wrote "Limimted Palette".
RESPELLED = {("image_model", "Limimted Palette"): "Limited Palette"}
# Display and logging switches of PyTTI's notebook that have no meaning here.
IGNORED = {
    "clear_every",
    "display_scale",
    "backups",
    "show_graphs",
    "approximate_vram_usage",
    "use_tensorboard",
    "device",
    "restore",
    "resume",
}
# PyTTI's defaults (assets/default.yaml) where ours differ and a file that leaves the key out
# would otherwise change meaning: an imported animation keeps PyTTI's time base and optimiser.
PYTTI_ANIMATION_DEFAULTS = {"pre_animation_steps": 50, "reset_lr_each_frame": True}
# PyTTI's defaults for each image model's own keys, where ours differ: an imported file that
# leaves them out keeps the palettes and VQGAN weights it had in PyTTI.
PYTTI_IMAGE_DEFAULTS = {
    "Limited Palette": {"palette_size": 5, "palettes": 20},
    "VQGAN": {"vqgan_model": "sflckr"},
}
# Keys whose own value turns a missing feature on, and the values that mean off.
SWITCHES = {"use_mmc": (False, None), "mmc_models": (None, [], "")}
MISSING_FEATURES = set(SWITCHES)


def from_pytti(data: dict) -> tuple[dict, list[str]]:
    """Our settings mapping for a PyTTI one, plus notes on every key that was dropped."""
    ours, notes, problems = {}, [], []
    flags = [spec for flag, spec in PERCEPTOR_FLAGS.items() if data.get(flag)]
    if flags:
        ours["perceptors"] = flags
    known = schema_by_name()
    for key, value in data.items():
        if key in PERCEPTOR_FLAGS:
            continue
        if key in RENAMED:
            ours[RENAMED[key]] = value
        elif key in IGNORED:
            notes.append(f"{key}: ignored (no equivalent in pytti_nb)")
        elif key in MISSING_FEATURES:
            if key in SWITCHES and value not in SWITCHES[key]:
                problems.append(
                    f"{key}: {value!r} needs a feature pytti_nb does not have yet; "
                    "remove the key or set it off to import the rest"
                )
            elif key in SWITCHES and key in known:
                ours[key] = value
            else:
                notes.append(f"{key}: dropped (that feature is off)")
        elif key == "seed" and not isinstance(value, int):
            notes.append(f"seed: {value!r} is not a number; a seed will be drawn")
        elif key == "learning_rate" and value is None:
            continue
        elif key in known:
            ours[key] = RESPELLED.get((key, value), value) if isinstance(value, str) else value
        else:
            notes.append(f"{key}: unknown to both PyTTI and pytti_nb; dropped")
    if ours.get("animation_mode") not in (None, False, "off"):
        for key, value in PYTTI_ANIMATION_DEFAULTS.items():
            if key not in data:
                ours[key] = value
                notes.append(f"{key}: not given; PyTTI's default {value!r} kept")
    for key, value in PYTTI_IMAGE_DEFAULTS.get(ours.get("image_model"), {}).items():
        if key not in data:
            ours[key] = value
            notes.append(f"{key}: not given; PyTTI's default {value!r} kept")
    if problems:
        raise SettingsError(problems)
    return ours, notes
