"""The settings schema: every setting's name, type, default, range, help and behaviour, in one place.

Validation, the settings files, the command line, the widget panel, live steering, the schedule
preview, PyTTI import and the README's settings table all read `Settings` below; no setting is
listed anywhere else by hand. Metadata of a field:

    help          one sentence for the tooltip and the README
    group         the panel tab and README section
    kind          what values it takes (KINDS)
    min, max      bounds of numbers
    choices       allowed values of a choice
    simple        shown in the panel's simple view (★ in the README)
    optional      empty means "automatic" (None)
    steerable     may change while a render runs (live steering); the rest fix the image, the
                  models, the step structure or the output folder
    visible_when  {setting: values}: the panel shows the control only while each named setting
                  has one of those values (motion only in an animation mode)
    rows          text boxes of this many lines (prompts); one line when None
    placeholder   grey hint text of the panel's empty box
    css           CSS class of the panel's control (the browser tests find it by this)
    upload        the kind of file (image, video, audio) the studio's upload points it at
    models        decides which models a render loads (a sweep checks each such mix once)
    compared      a sweep's existing run folder must hold the same value (output_root: a
                  folder may be moved or reached by another path)
    user_only     the user's own output choice: a settings file or PNG never sets it
    run_folder    names the run folder: a sweep sets it for every render
    init          a loss toward init_image (needs an init image or a video source)
    pytti         PyTTI's key, when it differs
    pytti_value   the value a PyTTI import takes when the file cannot give it (PyTTI had no
                  key, and its behaviour is not our default)
"""

from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
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

# Kinds of value:
#   text, path, int, float, bool, choice, list   plain values
#   scenes          the scene grammar (parsed with scene_prefix and scene_suffix)
#   direct_prompts  'path:weight_mask:stop | ...' pixel targets
#   schedule        a number, an expression of t, or a keyframe schedule (parsed to a TimeValue)
#   motion          a schedule evaluated once per animation frame; in 3D it may also use the
#                   frame's depth range r, R and mu (PyTTI)
#   quaternion      '[w, x, y, z]', four motion values: a rotation per frame
#   pixel_weight    PyTTI's WEIGHT[_MASKFILE][:STOP] of a pixel loss (init, stabilisation)
#   clip_weight     PyTTI's WEIGHT[_MASK[_CUTOFF]][:STOP] of a CLIP loss
#   audio_filters   a list of {variable_name, f_center, f_width, order} band-pass filters
KINDS = (
    "text",
    "path",
    "int",
    "float",
    "bool",
    "choice",
    "list",
    "scenes",
    "direct_prompts",
    "schedule",
    "motion",
    "quaternion",
    "pixel_weight",
    "clip_weight",
    "audio_filters",
)
TIME_KINDS = ("schedule",)  # kinds the plan parses into TimeValues checked at every step
MOTION_KINDS = ("motion", "quaternion")  # checked at every frame start
WEIGHT_KINDS = ("pixel_weight", "clip_weight")  # parsed into prompts.TargetWeight
ANIMATION_MODES = ("off", "2D", "3D", "Video Source")
MOVING = ("2D", "3D")  # modes with camera motion
ANIMATED = ("2D", "3D", "Video Source")
FLOWING = ("3D", "Video Source")  # modes with an optical-flow loss
INTERPOLATE_MAX = 8  # interpolate_output's largest factor


def setting(default, group, kind, help, **meta):
    """Declare one setting: its default plus the metadata every consumer reads."""
    meta = dict(
        help=help,
        group=group,
        kind=kind,
        min=meta.pop("min", None),
        max=meta.pop("max", None),
        choices=tuple(meta.pop("choices", ())),
        simple=meta.pop("simple", False),
        optional=meta.pop("optional", False),
        steerable=meta.pop("steerable", False),
        visible_when=MappingProxyType(dict(meta.pop("visible_when", {}))),
        rows=meta.pop("rows", None),
        placeholder=meta.pop("placeholder", ""),
        css=meta.pop("css", None),
        upload=meta.pop("upload", None),
        models=meta.pop("models", False),
        compared=meta.pop("compared", True),
        user_only=meta.pop("user_only", False),
        run_folder=meta.pop("run_folder", False),
        init=meta.pop("init", False),
        pytti=meta.pop("pytti", None),
        pytti_value=meta.pop("pytti_value", None),
        **meta,
    )
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


P, IM, C, CU, A, OUT, F = GROUPS


@dataclass(kw_only=True)
class Settings:
    """Every setting of a render; field metadata holds help, group, kind, bounds and behaviour."""

    # Prompts and scenes
    scenes: str = setting(
        "", P, "scenes", "Scenes separated by ||, prompts by |; see 'Prompt grammar'.",
        simple=True, steerable=True, rows=4,
        placeholder="a castle:2 | blue sky:0.5 || a forest", css="pytti-scenes",
    )  # fmt: skip
    scene_prefix: str = setting(
        "", P, "text", "Text put before every scene, e.g. 'oil painting of | '.",
        steerable=True, rows=2,
    )  # fmt: skip
    scene_suffix: str = setting(
        "", P, "text", "Text put after every scene, e.g. ' | text:-1:-.9'.",
        steerable=True, rows=2,
    )  # fmt: skip
    steps_per_scene: int = setting(
        100, P, "int", "Optimisation steps per scene.",
        min=1, max=1_000_000, simple=True, steerable=True,
    )  # fmt: skip
    interpolation_steps: int = setting(
        0, P, "int", "Steps at the start of each scene that blend in the previous scene's loss.",
        min=0, max=1_000_000, steerable=True,
    )  # fmt: skip
    direct_image_prompts: str = setting(
        "", P, "direct_prompts", "Pixel targets: 'path:weight_mask:stop | ...'.",
        steerable=True, rows=4,
    )  # fmt: skip
    init_image: str = setting(
        "", P, "path", "Image to start from (path); empty starts from noise.", simple=True,
        placeholder="path/to/image.png (optional)", upload="image",
    )  # fmt: skip
    direct_init_weight: str = setting(
        "0", P, "pixel_weight", "Pixel loss (direct_loss) toward init_image until the animation "
        "starts; WEIGHT[_MASK][:STOP] as PyTTI.", steerable=True,
        init=True,
    )  # fmt: skip
    semantic_init_weight: str = setting(
        "0", P, "clip_weight", "CLIP loss toward init_image (scene 1, until the animation "
        "starts); WEIGHT[_MASK][:STOP] as PyTTI.", steerable=True,
        init=True,
    )  # fmt: skip
    image_prompt_matching: str = setting(
        "location", P, "choice", "How image prompts, semantic init and semantic stabilisation "
        "compare: each cutout with the image's cutout at the same place, distance + 0.7 "
        "(location, PyTTI's), or with the image's mean embedding (mean).",
        choices=("location", "mean"), steerable=True,
    )  # fmt: skip
    mask_geometry: str = setting(
        "cutout", P, "choice", "Where letter masks (_r _l _u _d _n _f) and image masks look: "
        "cutout (each cutout's own centre, size and area, as PyTTI documents them) or pytti "
        "(PyTTI's code, which swapped each cutout's size and position: a large crop counts as "
        "right and down wherever it is, and an image mask reads the box from the crop's size to "
        "its size plus its position). Video masks read the cutout's own area in both.",
        choices=("cutout", "pytti"), steerable=True, pytti_value="pytti",
    )  # fmt: skip
    # Image
    image_model: str = setting(
        "Unlimited Palette", IM, "choice", "How the image is represented: free RGB pixels, a few "
        "small palettes (pixel art, posters), VQGAN's latent codes (painterly textures), or a "
        "decorrelated Fourier image (FFT: smooth, natural colour), or a Pyramid (the same "
        "image at every power-of-two resolution from 1x1 up, summed: coherent shapes where "
        "free pixels find noise that only the perceptor reads as the prompt).",
        choices=("Unlimited Palette", "Limited Palette", "VQGAN", "FFT", "Pyramid"), simple=True,
        models=True,
    )  # fmt: skip
    vqgan_model: str = setting(
        "imagenet", IM, "text", "VQGAN weights: imagenet (f16, 16384 codes), imagenet_1024, "
        "wikiart, sflckr, coco, openimages (Gumbel, f8), or a local taming .ckpt with its .yaml "
        "beside it; downloaded into models_cache_dir.",
        visible_when={"image_model": ("VQGAN",)},
        models=True,
    )  # fmt: skip
    direct_loss: str = setting(
        "hsv", IM, "choice", "How direct_image_prompts, direct_init_weight and "
        "direct_stabilization_weight compare the image with their target: hsv (an HSV pixel "
        "MSE, the same scale for every image model) or pytti (PyTTI's: for VQGAN its latent "
        "MSE / 2 + RGB MSE / 10; a Video Source's flow stabilisation also adds a latent MSE, "
        "times 1 for VQGAN and 0.1 for Limited Palette).", choices=("hsv", "pytti"),
        visible_when={"image_model": ("VQGAN", "Limited Palette")},
        pytti_value="pytti",
    )  # fmt: skip
    palette_size: int = setting(
        6, IM, "int", "Colours in each palette.", min=1, max=64,
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    palettes: int = setting(
        9, IM, "int", "Number of palettes; the image has at most palettes x palette_size "
        "colours.", min=1, max=256, visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    gamma: float = setting(
        1.0, IM, "float", "Gamma of each palette's brightness ramp (the HDR loss's target); "
        "higher is darker and more contrasty. 0 is PyTTI's flat ramp: every colour starts "
        "mid-grey, and the HDR loss pulls them all to white.", min=0.0, max=10.0,
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    hdr_weight: float = setting(
        0.01, IM, "float", "Weight of the loss that keeps each palette's brightness on the gamma "
        "ramp; 0 turns it off.", min=-100.0, max=100.0, steerable=True,
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    palette_normalization_weight: float = setting(
        0.2, IM, "float", "Weight of the loss that keeps every palette in use in its own "
        "places.", min=-100.0, max=100.0, steerable=True,
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    random_initial_palette: bool = setting(
        False, IM, "bool", "Start the palettes with random colours instead of grey ramps.",
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    target_palette: str = setting(
        "", IM, "path", "Image whose colours the palettes are fitted to (k-means), then locked.",
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    lock_palette: bool = setting(
        False, IM, "bool", "Freeze the palettes once the starting image is set (fitted to "
        "init_image when there is one).", visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    palette_reencode: str = setting(
        "refit", IM, "choice", "How a Video Source frame is re-encoded (reencode_each_frame; "
        "a scene cut always encodes afresh): refit (the palettes take three k-means steps "
        "toward the frame, each pixel its nearest colour) or pytti (PyTTI's: the palettes and "
        "the palette choices moved along the flow stay; only each pixel's brightness level "
        "is set from the frame).", choices=("refit", "pytti"), steerable=True,
        visible_when={"image_model": ("Limited Palette",), "animation_mode": ("Video Source",)},
        pytti_value="pytti",
    )  # fmt: skip
    show_palette: bool = setting(
        False, IM, "bool", "Show the palette swatch under the preview and save it beside each "
        "frame.", steerable=True, visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    palette_learning_rate: float = setting(
        None, IM, "float", "Step size of the palette colours; empty uses learning_rate.",
        min=1e-6, max=100.0, optional=True, steerable=True,
        visible_when={"image_model": ("Limited Palette",)},
    )  # fmt: skip
    fft_decay: float = setting(
        1.0, IM, "float", "FFT: how fast the spectrum's scale falls with frequency (1/f^decay); "
        "higher is smoother.", min=0.0, max=4.0, visible_when={"image_model": ("FFT",)},
    )  # fmt: skip
    width: int = setting(
        180, IM, "int", "Width in parameter pixels (output is width*pixel_size); -1 takes it "
        "from init_image's aspect ratio.", min=-1, max=4096, simple=True,
    )  # fmt: skip
    height: int = setting(
        112, IM, "int", "Height in parameter pixels (output is height*pixel_size); -1 takes it "
        "from init_image's aspect ratio.", min=-1, max=4096, simple=True,
    )  # fmt: skip
    pixel_size: int = setting(
        4, IM, "int", "Output pixels per parameter pixel (nearest upsampling).",
        min=1, max=64, simple=True,
    )  # fmt: skip
    smoothing_weight: str = setting(
        "0.02", IM, "schedule", "Total-variation smoothing; negative sharpens; schedule.",
        steerable=True,
    )  # fmt: skip
    learning_rate: float = setting(
        None, IM, "float", "Optimiser step size; empty uses the image model's default (0.02 for "
        "the palettes, 0.05 for Pyramid, 0.5 for FFT, 0.1 for VQGAN, 0.15 for its Gumbel model "
        "openimages).",
        min=1e-6, max=10_000.0, optional=True, simple=True, steerable=True,
    )  # fmt: skip
    optimizer: str = setting(
        "Adam", IM, "choice", "The optimiser: Adam (PyTTI's), AdamW, RAdam, NAdam, Adamax, or "
        "SGD with momentum 0.9 (its steps are raw gradients: it needs a learning_rate of 30 or more, and paints less well).",
        choices=("Adam", "AdamW", "RAdam", "NAdam", "Adamax", "SGD"),
    )  # fmt: skip
    seed: int = setting(
        None, IM, "int", "Random seed; empty draws one (it is saved with every frame). Any "
        "integer is accepted: outside 0 to 2^63-1 (PyTTI's negative and 64-bit seeds) it is "
        "taken modulo 2^63, so one seed always gives one image.",
        min=0, max=2**63 - 1, optional=True, simple=True,
    )  # fmt: skip
    # Perceptors
    perceptors: list = setting(
        ["ViT-B-32@openai"], C, "list", "CLIP models as MODEL@PRETRAINED (ViT-B-32@openai), "
        "MODEL@/path/weights.pt, hf-hub:org/name, or demo; several average their losses.",
        simple=True, placeholder="ViT-B-32@openai", models=True,
    )  # fmt: skip
    models_cache_dir: str = setting(
        "", C, "path", "Folder for downloaded weights; empty uses open_clip's cache.",
        pytti="models_parent_dir",
        models=True,
    )  # fmt: skip
    # Cutouts
    cutouts: int = setting(
        40, CU, "int", "Random crops per perceptor per step.",
        min=1, max=1024, simple=True, steerable=True,
    )  # fmt: skip
    cut_pow: float = setting(
        2.0, CU, "float", "Crop size exponent: higher gives smaller crops (detail).",
        min=0.0, max=10.0, steerable=True,
    )  # fmt: skip
    cutout_border: float = setting(
        0.25, CU, "float", "How far crops may reach past the edges, as a fraction of the image.",
        min=0.0, max=1.0, steerable=True,
    )  # fmt: skip
    border_mode: str = setting(
        "clamp", CU, "choice", "How crops past the edge are filled.",
        choices=("clamp", "mirror", "wrap", "black", "smear"), steerable=True,
    )  # fmt: skip
    cutout_noise: float = setting(
        0.1, CU, "float", "Largest std of Gaussian noise added to each crop.",
        min=0.0, max=1.0, steerable=True,
    )  # fmt: skip
    augmentations: str = setting(
        "gentle", CU, "choice", "Per-crop augmentations: gentle (the three settings below), "
        "pytti (PyTTI's chain: flips, 30-degree turns and shifts, perspective, colour jitter, "
        "random erasing) or das (Direct Ascent Synthesis': the whole image shifted, wrapping, "
        "by up to 1/12 of its side, Gaussian noise and a per-channel colour scale and offset, "
        "set by das_noise and das_color; crops wrap and cutout_noise is not read).",
        choices=("gentle", "pytti", "das"), steerable=True,
        pytti_value="pytti",
    )  # fmt: skip
    das_noise: str = setting(
        "0.1", CU, "schedule", "das: std of the Gaussian noise added to every crop at the "
        "start of each scene (falls over the scene as das_decay says); schedule.",
        steerable=True, visible_when={"augmentations": ("das",)},
    )  # fmt: skip
    das_color: str = setting(
        "0.1", CU, "schedule", "das: largest change of each crop's per-channel colour scale "
        "(1 +- it) and offset (+- it) at the start of each scene (falls as das_decay says); "
        "schedule.", steerable=True, visible_when={"augmentations": ("das",)},
    )  # fmt: skip
    das_decay: float = setting(
        1.0, CU, "float", "das: how much of das_noise and das_color is gone by the end of each "
        "scene, falling linearly from its first step (1: to nothing, 0: no decay).",
        min=0.0, max=1.0, steerable=True, visible_when={"augmentations": ("das",)},
    )  # fmt: skip
    cutout_flip: float = setting(
        0.5, CU, "float", "Probability that a crop is mirrored.",
        min=0.0, max=1.0, steerable=True, visible_when={"augmentations": ("gentle",)},
    )  # fmt: skip
    cutout_rotate: float = setting(
        5.0, CU, "float", "Largest random rotation of a crop, in degrees.",
        min=0.0, max=180.0, steerable=True, visible_when={"augmentations": ("gentle",)},
    )  # fmt: skip
    cutout_color_jitter: float = setting(
        0.01, CU, "float", "Strength of per-crop colour jitter.",
        min=0.0, max=1.0, steerable=True, visible_when={"augmentations": ("gentle",)},
    )  # fmt: skip
    gradient_accumulation_steps: int = setting(
        1, CU, "int", "Split the cutouts into this many perceptor batches to save memory "
        "(cutouts must divide).", min=1, max=1024, steerable=True,
    )  # fmt: skip
    # Animation
    animation_mode: str = setting(
        "off", A, "choice", "off renders a still image; 2D and 3D warp the image between "
        "frames by the camera motion below; Video Source follows a video's motion.",
        choices=ANIMATION_MODES, simple=True,
        models=True,
    )  # fmt: skip
    pre_animation_steps: int = setting(
        0, A, "int", "Steps before the first animation frame, inside the step budget; t is "
        "negative until then.", min=0, max=1_000_000,
    )  # fmt: skip
    steps_per_frame: int = setting(
        50, A, "int", "Steps per animation frame; t = (step - pre_animation_steps) "
        "/ (steps_per_frame * frames_per_second).", min=1, max=1_000_000,
    )  # fmt: skip
    frames_per_second: float = setting(
        12.0, A, "float", "Frames per second of t and of the video.", min=0.01, max=240.0,
    )  # fmt: skip
    cadence: int = setting(
        1, A, "int", "Optimise every Nth animation frame (a key frame, steps_per_frame steps); "
        "the frames between are the key frames before and after, warped along the motion and "
        "blended (Deforum's cadence). 1 optimises every frame, as PyTTI.",
        min=1, max=1000, visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    translate_x: str = setting(
        "0", A, "motion", "Pixels per frame the picture moves right (2D); camera move in 3D.",
        simple=True, steerable=True, visible_when={"animation_mode": MOVING},
    )  # fmt: skip
    translate_y: str = setting(
        "0", A, "motion", "Pixels per frame the picture moves up (2D); camera move in 3D.",
        simple=True, steerable=True, visible_when={"animation_mode": MOVING},
    )  # fmt: skip
    translate_z_3d: str = setting(
        "0", A, "motion", "Pixels per frame the camera moves forward (3D); positive zooms in.",
        simple=True, steerable=True, visible_when={"animation_mode": ("3D",)},
    )  # fmt: skip
    rotate_2d: str = setting(
        "0", A, "motion", "Degrees per frame the picture turns counterclockwise (2D).",
        simple=True, steerable=True, visible_when={"animation_mode": ("2D",)},
    )  # fmt: skip
    zoom_x_2d: str = setting(
        "0", A, "motion", "Horizontal zoom in pixels per frame (2D); positive zooms in.",
        simple=True, steerable=True, visible_when={"animation_mode": ("2D",)},
    )  # fmt: skip
    zoom_y_2d: str = setting(
        "0", A, "motion", "Vertical zoom in pixels per frame (2D); positive zooms in.",
        simple=True, steerable=True, visible_when={"animation_mode": ("2D",)},
    )  # fmt: skip
    rotate_3d: str = setting(
        "[1, 0, 0, 0]", A, "quaternion", "Camera rotation per frame as a quaternion "
        "[w, x, y, z] of four motion values (3D); normalised to unit length.",
        simple=True, steerable=True, visible_when={"animation_mode": ("3D",)},
    )  # fmt: skip
    lock_camera: bool = setting(
        True, A, "bool", "Remove the mean screen drift of a 3D move (PyTTI), keeping the "
        "picture centred.", steerable=True, visible_when={"animation_mode": ("3D",)},
    )  # fmt: skip
    camera: str = setting(
        "pinhole", A, "choice", "3D camera: pinhole (a true perspective camera) or pytti "
        "(PyTTI's, which placed points without unprojecting them: translate_z_3d and roll move "
        "a pixel at depth D f/D times as far, f the focal length).",
        choices=("pinhole", "pytti"), steerable=True, visible_when={"animation_mode": ("3D",)},
        pytti_value="pytti",
    )  # fmt: skip
    field_of_view: float = setting(
        60.0, A, "float", "Vertical field of view of the 3D camera, in degrees (1 to 179).",
        min=1.0, max=179.0, steerable=True, visible_when={"animation_mode": ("3D",)},
    )  # fmt: skip
    near_plane: float = setting(
        1.0, A, "float", "Depth, in pixels, of the nearest point the depth model sees (3D).",
        min=0.0, max=1e7, steerable=True, visible_when={"animation_mode": ("3D",)},
    )  # fmt: skip
    far_plane: float = setting(
        10000.0, A, "float", "Depth, in pixels, of the farthest point the depth model sees (3D).",
        min=0.0, max=1e7, steerable=True, visible_when={"animation_mode": ("3D",)},
    )  # fmt: skip
    depth_model: str = setting(
        "depth-anything/Depth-Anything-V2-Small-hf", A, "text", "Depth model for 3D and depth "
        "stabilisation: a Hugging Face model id, a local folder, or none (a flat plane: zoom, "
        "pan and roll without parallax).", visible_when={"animation_mode": ANIMATED},
        models=True, pytti_value="depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf",
    )  # fmt: skip
    sampling_mode: str = setting(
        "bicubic", A, "choice", "How the warp resamples the image.",
        choices=("nearest", "bilinear", "bicubic"), steerable=True,
        visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    infill_mode: str = setting(
        "wrap", A, "choice", "What fills the picture where the warp uncovers its edge.",
        choices=("mirror", "wrap", "black", "smear"), steerable=True,
        visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    seamless: bool = setting(
        False, A, "bool", "Make the picture tile, its left edge continuing the right and its top "
        "the bottom (textures, wallpapers, endless pans): cutouts are placed anywhere and wrap "
        "across the edges (border_mode and cutout_border are not read), smoothing wraps, and so "
        "does every warp (infill_mode is read as wrap). A pan keeps the tile exact; a zoom or "
        "turn cannot, and leaves a seam for the steps to mend.",
        simple=True,
    )  # fmt: skip
    reset_lr_each_frame: bool = setting(
        False, A, "bool", "Restart the optimiser every frame (PyTTI's default); off warps its "
        "momentum with the picture so it follows the content.",
        visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    color_coherence: str = setting(
        "off", A, "text", "Hold every frame's colours to an anchor after its warp: off, first "
        "(each scene's first animation frame) or an image path; matches each LAB channel's "
        "mean and spread, so the optimiser starts the frame from the corrected colours.",
        visible_when={"animation_mode": ANIMATED}, placeholder="off, first or path/to/image.png",
    )  # fmt: skip
    interpolate_output: int = setting(
        1, A, "int", "Write the video at this many times frames_per_second, the frames between "
        "two saved frames made by optical-flow interpolation (the saved PNGs are untouched); "
        "1 writes the saved frames only.", min=1, max=INTERPOLATE_MAX,
    )  # fmt: skip
    interpolate_flow: str = setting(
        "dis", A, "choice", "Optical flow of interpolate_output: OpenCV's DIS (classical, no "
        "weights, offline) or torchvision's RAFT (weights downloaded once into the model cache).",
        choices=("dis", "raft_small", "raft_large"),
        visible_when={"interpolate_output": tuple(range(2, INTERPOLATE_MAX + 1))}, models=True,
    )  # fmt: skip
    video_path: str = setting(
        "", A, "path", "The video a Video Source animation follows (its first frame starts the "
        "image unless init_image is set).", simple=True,
        visible_when={"animation_mode": ("Video Source",)},
        upload="video",
    )  # fmt: skip
    frame_stride: int = setting(
        1, A, "int", "Source video frames advanced per animation frame (video masks step alike).",
        min=1, max=1000, visible_when={"animation_mode": ("Video Source",)},
    )  # fmt: skip
    reencode_each_frame: bool = setting(
        True, A, "bool", "Start every frame from the video's frame (rotoscoping); off warps the "
        "previous output along the video's motion (a scene cut always re-encodes).",
        visible_when={"animation_mode": ("Video Source",)},
    )  # fmt: skip
    flow_long_term_samples: int = setting(
        1, A, "int", "Also hold each frame to the outputs 2, 4, ... frames back, moved along the "
        "video's flow (Ruder et al. 2016).", min=0, max=5,
        visible_when={"animation_mode": ("Video Source",)},
    )  # fmt: skip
    flow_model: str = setting(
        "raft_large", A, "choice", "Optical flow: torchvision's RAFT (weights downloaded once) or "
        "OpenCV's DIS (classical, no weights, offline).",
        choices=("raft_large", "raft_small", "dis"), visible_when={"animation_mode": FLOWING},
        models=True,
    )  # fmt: skip
    flow_stabilization_weight: str = setting(
        "0", A, "pixel_weight", "Video Source: pixel loss to the previous output moved along the "
        "video's flow, where the flow is reliable; 3D: where the frames' flow agrees with the "
        "camera's. WEIGHT[_MASK][:STOP] as PyTTI.", steerable=True,
        visible_when={"animation_mode": FLOWING},
        models=True,
    )  # fmt: skip
    flow_stabilization_3d: str = setting(
        "pixel", A, "choice", "What a 3D flow_stabilization_weight weighs: pixel (the MSE to the "
        "moved previous frame where the flow agrees with the camera's) or pytti (that MSE "
        "turned each frame into PyTTI's loss, the flow's error over the camera flow's mean "
        "square: divided by the frame's gradient energy times that mean square).",
        choices=("pixel", "pytti"), steerable=True, visible_when={"animation_mode": ("3D",)},
        pytti_value="pytti",
    )  # fmt: skip
    input_audio: str = setting(
        "", A, "path", "A sound file whose frequency bands drive expressions (audio "
        "reactivity); its sound goes into the video.", visible_when={"animation_mode": ANIMATED},
        upload="audio",
    )  # fmt: skip
    input_audio_offset: float = setting(
        0.0, A, "float", "Seconds into input_audio where the animation starts.",
        min=0.0, max=36_000.0, visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    input_audio_filters: list = setting(
        [], A, "audio_filters", "Band-pass filters, one per line, e.g. '- {variable_name: fLo, "
        "f_center: 80, f_width: 40, order: 5}'; fLo and fLo_prev (0 to 1) join every expression.",
        rows=3, visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    direct_stabilization_weight: str = setting(
        "0", A, "pixel_weight", "Pixel loss (direct_loss) toward the warped previous frame; "
        "WEIGHT[_MASK][:STOP] as PyTTI.", steerable=True, visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    semantic_stabilization_weight: str = setting(
        "0", A, "clip_weight", "CLIP loss toward the warped previous frame; "
        "WEIGHT[_MASK][:STOP] as PyTTI.", steerable=True, visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    depth_stabilization_weight: str = setting(
        "0", A, "pixel_weight", "Loss between the depth of the image and of the warped "
        "previous frame (runs the depth model every step: slow).", steerable=True,
        visible_when={"animation_mode": ANIMATED},
        models=True,
    )  # fmt: skip
    edge_stabilization_weight: str = setting(
        "0", A, "pixel_weight", "Loss between the Sobel edges of the image and of the warped "
        "previous frame (cheap).", steerable=True, visible_when={"animation_mode": ANIMATED},
    )  # fmt: skip
    # Output
    file_namespace: str = setting(
        "default", OUT, "text", "Run folder name under the output root; '/' nests folders. "
        "Any characters but < > : \" \\ | ? * and control characters; no part may be . or .., "
        "end in a space or '.', be a Windows device name (CON, NUL, COM1...) or be longer "
        "than 200 bytes.", simple=True,
        run_folder=True,
    )  # fmt: skip
    output_root: str = setting(
        "out", OUT, "path", "Folder that holds the run folders. Only --out, --set or the "
        "studio set it: a settings file or PNG never does.",
        run_folder=True, user_only=True, compared=False,
    )  # fmt: skip
    allow_overwrite: bool = setting(
        False, OUT, "bool", "Reuse the run folder when it holds only files pytti_nb wrote "
        "(deleting only those); otherwise add (1), (2), ... Only --set or the studio set it: "
        "a settings file or PNG never does.",
        run_folder=True, user_only=True,
    )  # fmt: skip
    save_every: int = setting(
        50, OUT, "int", "Save a frame PNG and a checkpoint every N steps (the last step is "
        "always saved); 0 saves only the last.", min=0, max=1_000_000, simple=True,
        steerable=True,
    )  # fmt: skip
    display_every: int = setting(
        10, OUT, "int", "Show a preview every N steps; 0 never (the end of the run is always "
        "shown).", min=0, max=1_000_000, steerable=True,
    )  # fmt: skip
    save_gif: bool = setting(
        False, OUT, "bool", "Also write the saved frames as an animated GIF beside the MP4.",
    )  # fmt: skip
    # Performance
    device: str = setting(
        "auto", F, "choice", "Where to run: auto picks CUDA, then Apple MPS, then CPU.",
        choices=("auto", "cuda", "mps", "cpu"),
    )  # fmt: skip
    precision: str = setting(
        "auto", F, "choice", "Perceptor precision: auto is bf16/fp16 on GPUs, fp32 on CPU. "
        "Image parameters stay fp32.", choices=("auto", "fp32", "fp16", "bf16"),
    )  # fmt: skip


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
    steerable: bool
    visible_when: MappingProxyType
    rows: int | None
    placeholder: str
    css: str | None
    upload: str | None
    models: bool
    compared: bool
    user_only: bool
    run_folder: bool
    init: bool
    pytti: str | None
    pytti_value: Any

    def visible(self, values) -> bool:
        """Whether the control shows, given the current settings (any mapping of name -> value)."""
        return all(values.get(name) in allowed for name, allowed in self.visible_when.items())


def schema() -> tuple[SettingInfo, ...]:
    """Every setting's SettingInfo, in declaration order."""
    return _SCHEMA


def schema_by_name() -> MappingProxyType:
    """SettingInfo keyed by setting name."""
    return _BY_NAME


def steerable() -> frozenset:
    """Names of the settings that may change while a render runs."""
    return frozenset(info.name for info in _SCHEMA if info.steerable)


def names_where(**meta) -> tuple[str, ...]:
    """Names of the settings whose metadata has each of these values, in declaration order."""
    return tuple(
        info.name
        for info in _SCHEMA
        if all(getattr(info, key) == value for key, value in meta.items())
    )


def motion_names(mode: str) -> tuple[str, ...]:
    """The motion settings a mode uses (those of a motion kind shown in that mode), in order."""
    if mode not in MOVING:
        return ()
    return tuple(
        info.name
        for info in _SCHEMA
        if info.kind in MOTION_KINDS and info.visible({"animation_mode": mode})
    )


def _read_schema() -> tuple[SettingInfo, ...]:
    """Build the SettingInfo of every field once (the schema never changes at run time)."""
    out = []
    for f in fields(Settings):
        default = f.default if f.default is not MISSING else f.default_factory()
        out.append(SettingInfo(name=f.name, default=default, **f.metadata))
    return tuple(out)


_SCHEMA = _read_schema()
_BY_NAME = MappingProxyType({info.name: info for info in _SCHEMA})
