"""The settings schema: every setting's name, type, default, range and help, in one place.

Validation, the settings files, the command line, the widget panel and the README's settings
table are all generated from `Settings` below; nothing is listed twice by hand.
"""

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

GROUPS = (
    "Prompts and scenes",
    "Image",
    "Perceptors",
    "Cutouts",
    "Animation",
    "Output",
    "Performance",
)

# Kinds of value. "schedule" is a number, an expression of t, or a keyframe schedule.
KINDS = ("text", "int", "float", "bool", "choice", "schedule", "path", "list")


def setting(
    default,
    help,
    group,
    kind,
    *,
    min=None,
    max=None,
    choices=(),
    simple=False,
    optional=False,
    pytti=None,
):
    """Declare one setting: its default plus the metadata every consumer reads."""
    meta = dict(
        help=help,
        group=group,
        kind=kind,
        min=min,
        max=max,
        choices=tuple(choices),
        simple=simple,
        optional=optional,
        pytti=pytti,
    )
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


P, IM, C, CU, A, OUT, F = GROUPS


@dataclass(kw_only=True)
class Settings:
    """Every setting of a render; field metadata holds help, group, kind and bounds."""

    # Prompts and scenes
    scenes: str = setting(
        "", "Scenes separated by ||, prompts by |; see 'Prompt grammar'.", P, "text", simple=True
    )
    scene_prefix: str = setting(
        "", "Text put before every scene, e.g. 'oil painting of | '.", P, "text"
    )
    scene_suffix: str = setting("", "Text put after every scene, e.g. ' | text:-1:-.9'.", P, "text")
    steps_per_scene: int = setting(
        100, "Optimisation steps per scene.", P, "int", min=1, max=1_000_000, simple=True
    )
    interpolation_steps: int = setting(
        0,
        "Steps at the start of each scene that blend in the previous scene's loss.",
        P,
        "int",
        min=0,
        max=1_000_000,
    )
    direct_image_prompts: str = setting(
        "", "Pixel targets: 'path:weight_mask:stop | ...'.", P, "text"
    )
    init_image: str = setting(
        "", "Image to start from (path); empty starts from noise.", P, "path", simple=True
    )
    direct_init_weight: str = setting(
        "0", "Pixel (HSV) loss toward init_image; schedule.", P, "schedule"
    )
    semantic_init_weight: str = setting(
        "0", "CLIP loss toward init_image (scene 1 only); schedule.", P, "schedule"
    )
    # Image
    image_model: str = setting(
        "Unlimited Palette",
        "How the image is represented.",
        IM,
        "choice",
        choices=("Unlimited Palette",),
    )
    width: int = setting(
        180,
        "Width in parameter pixels (output is width*pixel_size); -1 takes "
        "it from init_image's aspect ratio.",
        IM,
        "int",
        min=-1,
        max=4096,
        simple=True,
    )
    height: int = setting(
        112,
        "Height in parameter pixels (output is height*pixel_size); -1 "
        "takes it from init_image's aspect ratio.",
        IM,
        "int",
        min=-1,
        max=4096,
        simple=True,
    )
    pixel_size: int = setting(
        4,
        "Output pixels per parameter pixel (nearest upsampling).",
        IM,
        "int",
        min=1,
        max=64,
        simple=True,
    )
    smoothing_weight: str = setting(
        "0.02", "Total-variation smoothing; negative sharpens; schedule.", IM, "schedule"
    )
    learning_rate: float = setting(
        None,
        "Adam learning rate; empty uses the image model's default (0.02 for Unlimited Palette).",
        IM,
        "float",
        min=1e-6,
        max=10.0,
        optional=True,
        simple=True,
    )
    seed: int = setting(
        None,
        "Random seed; empty draws one (it is saved with every frame).",
        IM,
        "int",
        min=0,
        max=2**63 - 1,
        optional=True,
        simple=True,
    )
    # Perceptors
    perceptors: list = setting(
        ["ViT-B-32@openai"],
        "CLIP models as MODEL@PRETRAINED "
        "(ViT-B-32@openai), MODEL@/path/weights.pt, hf-hub:org/name, or "
        "demo; several average their losses.",
        C,
        "list",
        simple=True,
        pytti="ViTB32, ViTB16, RN50, ... flags",
    )
    models_cache_dir: str = setting(
        "",
        "Folder for downloaded weights; empty uses open_clip's cache.",
        C,
        "path",
        pytti="models_parent_dir",
    )
    # Cutouts
    cutouts: int = setting(
        40, "Random crops per perceptor per step.", CU, "int", min=1, max=1024, simple=True
    )
    cut_pow: float = setting(
        2.0,
        "Crop size exponent: higher gives smaller crops (detail).",
        CU,
        "float",
        min=0.0,
        max=10.0,
    )
    cutout_border: float = setting(
        0.25,
        "How far crops may reach past the edges, as a fraction of the image.",
        CU,
        "float",
        min=0.0,
        max=1.0,
    )
    border_mode: str = setting(
        "clamp",
        "How crops past the edge are filled.",
        CU,
        "choice",
        choices=("clamp", "mirror", "wrap", "black", "smear"),
    )
    cutout_noise: float = setting(
        0.1, "Largest std of Gaussian noise added to each crop.", CU, "float", min=0.0, max=1.0
    )
    cutout_flip: float = setting(
        0.5, "Probability that a crop is mirrored.", CU, "float", min=0.0, max=1.0
    )
    cutout_rotate: float = setting(
        5.0, "Largest random rotation of a crop, in degrees.", CU, "float", min=0.0, max=180.0
    )
    cutout_color_jitter: float = setting(
        0.01, "Strength of per-crop colour jitter.", CU, "float", min=0.0, max=1.0
    )
    gradient_accumulation_steps: int = setting(
        1,
        "Split the cutouts into this many perceptor batches to save memory (cutouts must divide).",
        CU,
        "int",
        min=1,
        max=1024,
    )
    # Animation (time base; motion arrives with animation modes)
    steps_per_frame: int = setting(
        50,
        "Steps per animation frame; t = step / (steps_per_frame * frames_per_second).",
        A,
        "int",
        min=1,
        max=1_000_000,
    )
    frames_per_second: float = setting(
        12.0, "Frames per second of t and of the video.", A, "float", min=0.01, max=240.0
    )
    # Output
    file_namespace: str = setting(
        "default", "Run folder name under the output root.", OUT, "text", simple=True
    )
    output_root: str = setting("out", "Folder that holds the run folders.", OUT, "path")
    allow_overwrite: bool = setting(
        False, "Reuse the run folder; otherwise add (1), (2), ...", OUT, "bool"
    )
    save_every: int = setting(
        50,
        "Save a frame PNG and a checkpoint every N steps (the last "
        "step is always saved); 0 saves only the last.",
        OUT,
        "int",
        min=0,
        max=1_000_000,
        simple=True,
    )
    display_every: int = setting(
        10, "Show a preview every N steps.", OUT, "int", min=1, max=1_000_000
    )
    # Performance
    device: str = setting(
        "auto",
        "Where to run: auto picks CUDA, then Apple MPS, then CPU.",
        F,
        "choice",
        choices=("auto", "cuda", "mps", "cpu"),
    )
    precision: str = setting(
        "auto",
        "Perceptor precision: auto is bf16/fp16 on GPUs, fp32 on CPU. Image parameters stay fp32.",
        F,
        "choice",
        choices=("auto", "fp32", "fp16", "bf16"),
    )


@dataclass(frozen=True)
class SettingInfo:
    """A setting's schema entry, read from the dataclass field."""

    name: str
    default: Any
    help: str
    group: str
    kind: str
    min: Any
    max: Any
    choices: tuple
    simple: bool
    optional: bool
    pytti: Any


def schema():
    """Every setting's SettingInfo, in declaration order."""
    out = []
    for f in fields(Settings):
        default = f.default if f.default is not MISSING else f.default_factory()
        out.append(SettingInfo(name=f.name, default=default, **f.metadata))
    return tuple(out)


def schema_by_name():
    """SettingInfo keyed by setting name."""
    return {s.name: s for s in schema()}
