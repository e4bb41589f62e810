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
# Keys of features pytti_nb does not have yet, by feature. They are dropped while the feature
# is off and refused, by name, when a settings file turns it on.
IMAGE_MODEL_KEYS = {
    "vqgan_model",
    "random_initial_palette",
    "palette_size",
    "palettes",
    "gamma",
    "hdr_weight",
    "palette_normalization_weight",
    "show_palette",
    "target_palette",
    "lock_palette",
}
# Keys whose own value turns a missing feature on, and the values that mean off.
SWITCHES = {"use_mmc": (False, None), "mmc_models": (None, [], "")}
MISSING_FEATURES = IMAGE_MODEL_KEYS | set(SWITCHES)


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
            ours[key] = value
        else:
            notes.append(f"{key}: unknown to both PyTTI and pytti_nb; dropped")
    if ours.get("animation_mode") not in (None, False, "off"):
        for key, value in PYTTI_ANIMATION_DEFAULTS.items():
            if key not in data:
                ours[key] = value
                notes.append(f"{key}: not given; PyTTI's default {value!r} kept")
    if problems:
        raise SettingsError(problems)
    return ours, notes
