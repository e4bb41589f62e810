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
    "reset_lr_each_frame",
    "restore",
    "resume",
}
# Features pytti_nb does not have yet. Their keys are dropped while the feature is off and
# are an error when a settings file turns it on.
ANIMATION_KEYS = {
    "pre_animation_steps",
    "sampling_mode",
    "infill_mode",
    "translate_x",
    "translate_y",
    "translate_z_3d",
    "rotate_3d",
    "rotate_2d",
    "zoom_x_2d",
    "zoom_y_2d",
    "lock_camera",
    "field_of_view",
    "near_plane",
    "far_plane",
    "video_path",
    "frame_stride",
    "reencode_each_frame",
    "flow_long_term_samples",
    "input_audio_offset",
    "input_audio_filters",
}
# Details of Limited Palette / VQGAN: image_model itself rejects those models for now.
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
# Keys whose own value turns a feature on, and the values that mean off.
SWITCHES = {
    "animation_mode": ("off", False, None, ""),
    "use_mmc": (False, None),
    "input_audio": ("", None),
    "direct_stabilization_weight": ("", "0", 0, None),
    "semantic_stabilization_weight": ("", "0", 0, None),
    "depth_stabilization_weight": ("", "0", 0, None),
    "edge_stabilization_weight": ("", "0", 0, None),
    "flow_stabilization_weight": ("", "0", 0, None),
    "mmc_models": (None, [], ""),
}
SCHEDULED_EMPTY_MEANS_ZERO = ("direct_init_weight", "semantic_init_weight")


def from_pytti(data: dict) -> tuple[dict, list[str]]:
    """Our settings mapping for a PyTTI one, plus notes on every key that was dropped."""
    ours, notes, problems = {}, [], []
    animated = data.get("animation_mode", "off") not in SWITCHES["animation_mode"]
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
        elif key in SWITCHES or key in ANIMATION_KEYS or key in IMAGE_MODEL_KEYS:
            if _in_use(key, value, animated):
                problems.append(
                    f"{key}: {value!r} needs a feature pytti_nb does not have yet; "
                    "remove the key or set it off to import the rest"
                )
            else:
                notes.append(f"{key}: dropped (that feature is off)")
        elif key == "seed" and not isinstance(value, int):
            notes.append(f"seed: {value!r} is not a number; a seed will be drawn")
        elif key in SCHEDULED_EMPTY_MEANS_ZERO and value in ("", None):
            ours[key] = "0"
        elif key == "learning_rate" and value is None:
            continue
        elif key in known:
            ours[key] = value
        else:
            notes.append(f"{key}: unknown to both PyTTI and pytti_nb; dropped")
    if problems:
        raise SettingsError(problems)
    return ours, notes


def _in_use(key, value, animated) -> bool:
    """Whether a not-yet-supported PyTTI key asks for its feature."""
    if key in SWITCHES:
        return value not in SWITCHES[key]
    return animated and key in ANIMATION_KEYS
