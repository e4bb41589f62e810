"""Every place pytti_nb renders differently from PyTTI (pytti-core), as data: what PyTTI does,
what we do, why, and what an imported PyTTI file gets, with a predicate naming the places of a
file that depend on it. The README's table (docs.departures_table) and the import report (the
rows that apply to the file at hand) are both made from DEPARTURES.

A row whose `places` is None never applies to a file that imports: a file depending on it is
refused, and the error names the place.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ..lang.prompts import MaskKind
from .pytti_places import DEPTH_NAMES, POSITION_MASKS, Places
from .schema import ANIMATED, Settings, motion_names, schema_by_name

MAX_PLACES = 4  # places one report line names (then how many more)
REPORT_PREFIX = "differs from PyTTI"


@dataclass(frozen=True)
class Departure:
    """One row of the table: PyTTI's behaviour, ours, why, and what an import gets."""

    id: str
    topic: str
    pytti: str
    ours: str
    why: str
    imported: str
    places: Callable[[Places], list[str]] | None


def _imported(name: str) -> str:
    """What an imported file gets for a setting PyTTI had no key for, as a table cell."""
    info = schema_by_name().get(name)
    if info is None:
        return "ours"
    value = info.pytti_value if info.pytti_value is not None else info.default
    return f"`{name}: {value}`"


def _mode(p: Places, *modes) -> bool:
    """Whether the run's animation mode is one of these."""
    return p.s.animation_mode in modes


def _when(condition: bool, *places: str) -> list[str]:
    """The places when the condition holds, else none."""
    return list(places) if condition else []


def _weights(p: Places, *names) -> list[str]:
    """The places of these weight settings that are on."""
    return [p.weights[n][0] for n in names if p.on(n)]


def _lp(p: Places) -> bool:
    """A Limited Palette run."""
    return p.s.image_model == "Limited Palette"


def _vqgan(p: Places) -> bool:
    """A VQGAN run."""
    return p.s.image_model == "VQGAN"


def _encodes(p: Places) -> list[str]:
    """What makes the run encode an image into the model: init_image, a Video Source."""
    return [
        *_when(bool(p.s.init_image), f"init_image {p.s.init_image!r}"),
        *_when(_mode(p, "Video Source"), "animation_mode 'Video Source'"),
    ]


def _unbraced_zero_schedules(p: Places) -> list[str]:
    """Weight settings written as a keyframe schedule without braces whose first keyframe is at
    frame 0: PyTTI read the 0 before the first ':' as the weight (off)."""
    found = []
    for name in p.weights:
        text = str(getattr(p.s, name)).strip()
        head, colon, _ = text.partition(":")
        if colon and "," in text and not text.startswith("{") and _is_zero(head):
            found.append(p.weights[name][0])
    return found


def _is_zero(text: str) -> bool:
    """Whether text is a number equal to 0."""
    try:
        return float(text) == 0
    except ValueError:
        return False


def _urls(p: Places) -> list[str]:
    """The places naming an image or video by URL (PyTTI fetched them)."""
    return [place for place, path in p.files() if "://" in str(path)]


def _audio(p: Places) -> list[str]:
    """The audio file, when the run reads one."""
    s = p.s
    return _when(bool(s.input_audio and s.input_audio_filters), f"input_audio {s.input_audio!r}")


def _camera_3d(p: Places) -> list[str]:
    """3D motion that moves forward or turns the camera (what the pinhole changes most)."""
    if not _mode(p, "3D"):
        return []
    moving = [
        f"{name} {getattr(p.s, name)!r}"
        for name in motion_names("3D")
        if str(getattr(p.s, name)).replace(" ", "") not in ("0", "[1,0,0,0]")
    ]
    return moving or ["animation_mode '3D'"]


def _flow_warp(p: Places) -> list[str]:
    """A Video Source that moves the picture along the video's flow (no re-encode)."""
    return _when(
        _mode(p, "Video Source") and not p.s.reencode_each_frame, "reencode_each_frame false"
    )


def _depth(p: Places) -> list[str]:
    """What makes the run estimate depth: 3D, depth stabilisation."""
    return [
        *_when(_mode(p, "3D"), "animation_mode '3D'"),
        *_weights(p, "depth_stabilization_weight"),
    ]


def _flow_3d(p: Places) -> list[str]:
    """3D flow stabilisation."""
    return _weights(p, "flow_stabilization_weight") if _mode(p, "3D") else []


def _flow(p: Places) -> list[str]:
    """What makes the run estimate optical flow: Video Source, 3D flow stabilisation."""
    return [*_when(_mode(p, "Video Source"), "animation_mode 'Video Source'"), *_flow_3d(p)]


def _latent_losses(p: Places) -> list[str]:
    """Where PyTTI's latent losses still differ: VQGAN's direct losses with an image or video
    mask (its pixel part's mask went through the codes), a VQGAN Video Source's flow loss (its
    target codes come from the moved latent, not a re-encode)."""
    if not _vqgan(p):
        return []
    masked = p.masked({MaskKind.IMAGE, MaskKind.VIDEO}, clip=False)
    found = [place for place in masked if place.startswith("direct_")]
    if _mode(p, "Video Source"):
        found += _weights(p, "flow_stabilization_weight")
    return found


def _ema_references(p: Places) -> list[str]:
    """VQGAN references made from the image once per frame: depth, stabilisation targets."""
    if not (_vqgan(p) and _mode(p, "2D", "3D")):
        return []  # a Video Source's references are its video's frames
    kinds = ("direct", "edge", "depth", "semantic", "flow")
    stabilisers = [f"{k}_stabilization_weight" for k in kinds]
    return [*_when(_mode(p, "3D"), "animation_mode '3D'"), *_weights(p, *stabilisers)]


def _warps_2d(p: Places) -> list[str]:
    """2D motion settings that move the picture."""
    if not _mode(p, "2D"):
        return []
    names = motion_names("2D")
    return [f"{n} {getattr(p.s, n)!r}" for n in names if str(getattr(p.s, n)).strip() != "0"]


def _flow_masks(p: Places) -> list[str]:
    """A Video Source flow stabilisation weight with a mask."""
    found = p.weights.get("flow_stabilization_weight")
    masked = found and _mode(p, "Video Source") and found[1].mask.kind is not MaskKind.ALL
    return [found[0]] if masked else []


def _long_term_flow(p: Places) -> list[str]:
    """Video Source long-term flow samples read back by save number."""
    s = p.s
    if not (
        _mode(p, "Video Source") and s.flow_long_term_samples and p.on("flow_stabilization_weight")
    ):
        return []
    return _when(
        s.save_every != s.steps_per_frame,
        f"flow_long_term_samples {s.flow_long_term_samples} with save_every {s.save_every} "
        f"and steps_per_frame {s.steps_per_frame}",
    )


def _prev(p: Places) -> list[str]:
    """The places reading an audio band's _prev."""
    return p.using(b for b in p.bands if b.endswith("_prev"))


DEPARTURES = (
    # --- prompts and expressions -------------------------------------------------------------
    Departure(
        "keyframes",
        "keyframe schedules and brackets in prompts",
        "splits a prompt on ':' and '_' only, so `castle:{0:(1), 30:(3)}` or `castle:(10*fHi_prev)` "
        "hand eval() a syntax error",
        "splits again keeping ( ) and { } together, only where PyTTI's split would give a syntax "
        "error",
        "schedules and names with '_' in prompts, without changing any prompt PyTTI runs",
        "the same meaning for every prompt PyTTI could run",
        None,
    ),
    Departure(
        "sandbox",
        "expressions",
        "eval() with math and numpy: any Python, ints and floats",
        "a sandboxed subset (PyTTI's names and functions, no strings, tuples or other "
        "attributes); every value is a float",
        "a settings file cannot run code, and every value is checked before the run",
        "the same values; an expression outside the subset is refused, naming it",
        None,
    ),
    Departure(
        "checked-fields",
        "every field checked before the run",
        "never evaluates STOP or CUTOFF while WEIGHT is exactly 0: ignores `castle:0:(1), 30:(3)` "
        "and reads the weight setting `0:(0), 5:(1)` as off",
        "checks every field: the first is an error, the second a schedule from 0 to 1",
        "a field is never silently ignored",
        "the schedule; set the weight to 0 for PyTTI's render",
        _unbraced_zero_schedules,
    ),
    Departure(
        "silent-errors",
        "empty scenes, prompts and paths",
        "runs no scene for an empty `scenes`, crashes on an empty TEXT or MASK, pulls towards a "
        "black target for an empty direct-prompt PATH",
        "each is an error naming the place",
        "nothing runs silently wrong",
        "refused, naming the empty part",
        None,
    ),
    Departure(
        "mask-files",
        "mask files",
        "opens only `.mp4` as a video (other videos as images), keeps spaces inside `[ ]`, and "
        "drops the `-` of a pixel loss's video mask",
        "any video extension in any case is a video; paths in `[ ]` are stripped; `-` inverts "
        "every mask",
        "the mask written is the mask used",
        "the inversion, which PyTTI dropped from each mask named",
        lambda p: p.masked({MaskKind.VIDEO}, clip=False, inverted=True),
    ),
    Departure(
        "urls",
        "images given as URLs",
        "fetches `http(s)://` images, masks and videos while it runs",
        "refuses them with advice to download the file",
        "a run never depends on a website",
        "converted, with a note to download each file and set its path; validate and render "
        "refuse until then",
        _urls,
    ),
    Departure(
        "mask-sampling",
        "image and video masks per cutout",
        "measures the mask's mean in each cutout in a Python loop with error diffusion",
        "samples every cutout's mean in one batched grid_sample, without diffusion",
        "one batched operation per step",
        "ours",
        lambda p: p.masked({MaskKind.IMAGE, MaskKind.VIDEO}, pixel=False),
    ),
    Departure(
        "mask-geometry",
        "letter and image masks of prompts",
        "make_mask passes (size, pos) to mask functions declared (pos, size) (Perceptor/"
        "Prompt.py 48, 52-53, 297): `_r`, `_l`, `_u`, `_d` test size + pos/2, `_n` and `_f` the "
        "cutout's position, image masks the region from size to size + pos",
        "`mask_geometry: cutout` by default: each cutout's centre, size and region, as the "
        "masks are documented; `pytti` is PyTTI's (video masks read the cutout's own region in "
        "both, as in PyTTI)",
        "PyTTI's is a bug, but its look is the one the file was tuned by eye on",
        f"{_imported('mask_geometry')}: each mask named covers the cutouts it did in PyTTI "
        "(`cutout` for the documented ones)",
        lambda p: p.masked({*POSITION_MASKS, MaskKind.IMAGE}, pixel=False),
    ),
    Departure(
        "image-prompt-size",
        "image prompts' cutouts",
        "cuts an image prompt (and the semantic init image) at its own size",
        "cuts it at the render size (the crops' positions and relative sizes are the same)",
        "one cutout pass for the image and the render",
        "ours",
        lambda p: [*p.image_prompts(), *_weights(p, "semantic_init_weight")],
    ),
    # --- image models ------------------------------------------------------------------------
    Departure(
        "palette-encode",
        "Limited Palette: encoding an image",
        "201 Adam steps on an HSV loss, which sometimes left an init image black and white "
        "(its issue 175)",
        "a two-level k-means of the palettes on the device, in milliseconds",
        "as good as free k-means with as many colours (tested)",
        "ours",
        lambda p: (
            [*_encodes(p), *_when(bool(p.s.target_palette), "target_palette")] if _lp(p) else []
        ),
    ),
    Departure(
        "palette-lock",
        "Limited Palette: lock_palette",
        "locks the grey starting ramp before the init image is encoded",
        "locks the palettes once the starting image is set (the image's colours)",
        "a locked palette that fits the picture",
        "ours",
        lambda p: _encodes(p) if _lp(p) and p.s.lock_palette else [],
    ),
    Departure(
        "palette-ramp",
        "Limited Palette: the grey starting ramp",
        "`linspace(0, 2) ** gamma`, clipped",
        "`linspace(0, 1) ** gamma`, the HDR loss's target",
        "the palettes start where the HDR loss pulls them",
        "ours",
        lambda p: _when(_lp(p) and not p.s.random_initial_palette, f"gamma {p.s.gamma:g}"),
    ),
    Departure(
        "palette-normalization",
        "Limited Palette: the normalisation loss",
        "divides by each palette's spread: infinity (and a NaN gradient) for an unused palette",
        "floors the spread at 1/N: an unused palette adds 1, with a zero gradient",
        "a flat init image does not break the run",
        "ours",
        lambda p: _when(
            _lp(p) and p.s.palette_normalization_weight != 0,
            f"palette_normalization_weight {p.s.palette_normalization_weight:g}",
        ),
    ),
    Departure(
        "palette-reencode",
        "Limited Palette: re-encoding Video Source frames",
        "locks the palette, sets only the brightness to the frame's luminance and keeps the "
        "warped palette choices (a full encode only at a scene cut); then unlocks a "
        "target_palette unless lock_palette is set, its colours shown at half brightness "
        "(pixel.py 256, 285)",
        "`palette_reencode: refit` by default: the palettes take three k-means steps toward "
        "the frame, each pixel its nearest colour; `pytti` is PyTTI's; a target palette stays "
        "locked",
        "refit follows the frame's colours; PyTTI's keeps the palettes still",
        _imported("palette_reencode"),
        lambda p: _when(
            _lp(p) and _mode(p, "Video Source") and p.s.reencode_each_frame,
            "reencode_each_frame with Limited Palette",
        ),
    ),
    Departure(
        "vqgan-warp",
        "VQGAN: moving the picture",
        "decodes, warps the pixels and encodes again (its VQGAN image has no image tensor)",
        "warps the latent, its optimiser moments and its moving average",
        "1.1-5x closer to the moved picture on a toy model, keeps momentum, no encoder pass",
        "ours",
        lambda p: [*_warps_2d(p), *_camera_3d(p), *_flow_warp(p)] if _vqgan(p) else [],
    ),
    Departure(
        "latent-loss",
        "VQGAN's direct losses; the latent part of Video Source's flow loss",
        "LatentLoss for VQGAN's direct prompts, init and direct stabilisation: latent MSE / 2 + "
        "RGB MSE / 10 (LatentLossClass.py 63-71), the pixel part's mask taken through the "
        "codes' grid and back (get_loss stores the resized mask with the overridden set_mask); "
        "Video Source's flow loss adds latent_strength x latent MSE (1 for VQGAN, 0.1 for "
        "Limited Palette; OpticalFlowLossClass.py 473-476), VQGAN's target codes those of the "
        "re-encoded moved picture",
        "`direct_loss: hsv`: an HSV pixel MSE for every image model, no latent part; "
        "`direct_loss: pytti`: PyTTI's, the mask as given, VQGAN's flow target codes those of "
        "the moved latent (its warp moves the latent)",
        "a weight means the same for every image model and VQGAN checkpoint (a latent MSE's "
        "scale is its codebook's); the mask's round trip is a bug",
        f"{_imported('direct_loss')}, PyTTI's losses: a mask named stays sharp in the pixel "
        "part, a flow loss named takes the moved latent's codes",
        _latent_losses,
    ),
    Departure(
        "vqgan-references",
        "VQGAN: the frame's references",
        "depth and the stabilisation targets come from the decoded moving average "
        "(update_func.py 289)",
        "from the raw latent",
        "the picture the loss compares is the one being optimised",
        "ours",
        _ema_references,
    ),
    Departure(
        "vqgan-encode",
        "VQGAN: encoding an image",
        "sets the latent to the quantised codes",
        "keeps the encoder's latent before quantisation",
        "the optimiser starts from the encoder's own latent, which every step quantises anyway",
        "ours",
        lambda p: _encodes(p) if _vqgan(p) else [],
    ),
    # --- animation ---------------------------------------------------------------------------
    Departure(
        "warp-2d",
        "2D motion",
        "rotates in normalised units (shearing non-square pictures) and translates with "
        "align_corners=True",
        "a true rotation; whole-pixel moves land on pixel centres",
        "circles stay circles and whole-pixel moves do not blur",
        "ours",
        _warps_2d,
    ),
    Departure(
        "camera-3d",
        "3D camera",
        "places points at (x, y, -d) in normalised screen units without unprojecting them, so "
        "translate_z_3d and roll move a pixel at depth D f/D times as far as a pinhole camera "
        "(f the focal length); reuses the forward flow as the backward one",
        "a pinhole camera; the inverse warp is solved exactly (to 0.01 px)",
        "moves follow the scene's geometry",
        f"{_imported('camera')}, PyTTI's rates",
        _camera_3d,
    ),
    Departure(
        "depth-model",
        "depth estimation",
        "AdaBins (NYU, metric), estimated again at every use",
        "a Depth Anything V2 model (or none: a flat plane), once per frame",
        "AdaBins is unmaintained; once per frame is its issue 171",
        _imported("depth_model"),
        _depth,
    ),
    Departure(
        "depth-range",
        "r, R and mu in 3D motion",
        "the nearest, farthest and (mean + median) / 2 depth of AdaBins' metric map, in pixels",
        "the same statistics of our depth map; with a relative model (the default "
        "depth_model) each frame is stretched over 1 to 10 m, so they would mean nothing: such "
        "motion is refused",
        "a value must mean the same depth in every frame",
        "a metric depth model, so r, R and mu follow the scene",
        lambda p: p.using(DEPTH_NAMES) if _mode(p, "3D") else [],
    ),
    Departure(
        "wrap-infill",
        "infill_mode wrap",
        "samples the grid modulo its size, with a dark seam at the edges",
        "samples a circularly padded copy",
        "no seam",
        "ours",
        lambda p: _when(_mode(p, *ANIMATED) and p.s.infill_mode == "wrap", "infill_mode 'wrap'"),
    ),
    Departure(
        "last-frame",
        "the last frame",
        "never saves the last steps' picture (pytti-notebook issue 41)",
        "always saves the last step",
        "the render's end is kept",
        "ours",
        lambda p: [f"save_every {p.s.save_every}"],
    ),
    Departure(
        "flow-3d",
        "3D flow stabilisation",
        "TargetFlowLoss: GMA's flow (3 iterations, with gradients) from the previous frame to "
        "the image, every step, against the camera's: MSE / the camera flow's mean square m "
        "(OpticalFlowLossClass.py 156-159, 178-199; NaN when the camera stands still)",
        "a pixel MSE toward the moved previous frame where the frames' flow agrees with the "
        "camera's, set once per frame; `flow_stabilization_3d: pytti` scales it each frame by "
        "1 / (G m), G the frame's gradient energy: PyTTI's loss to first order in the flow "
        "error (within 50% on synthetic scenes), m floored at 0.25 px^2",
        "a step's cost stays bounded (PyTTI ran a flow model forward and backward every step; "
        "DIS, the offline model, has no gradient), and the weights keep PyTTI's meaning",
        f"{_imported('flow_stabilization_3d')}: the weight and stop mean PyTTI's, converted "
        "each frame, to first order",
        _flow_3d,
    ),
    Departure(
        "flow-model",
        "optical flow",
        "GMA",
        "torchvision's RAFT (raft_large, raft_small) or OpenCV's DIS (offline)",
        "maintained models with published weights",
        _imported("flow_model"),
        _flow,
    ),
    Departure(
        "motion-edge",
        "flow reliability: motion boundaries",
        "its motion-edge convolution sums the derivatives of both flow channels into each",
        "the sum of each flow channel's own squared derivatives (Ruder et al.'s check)",
        "the published consistency check",
        "ours",
        lambda p: _when(_mode(p, "Video Source"), "animation_mode 'Video Source'"),
    ),
    Departure(
        "flow-mask",
        "a flow stabilisation mask",
        "adds noise to both frames where the mask is off, so the flow model matches them there; "
        "the loss itself is not masked",
        "masks the loss (with the flow's reliability)",
        "the mask means where the loss holds, as for every other weight",
        "ours",
        _flow_masks,
    ),
    Departure(
        "flow-long-term",
        "long-term flow samples",
        "reads them back from its backup files by save number (i // save_every - (2^j - 1)), "
        "which are the frames meant only when save_every equals steps_per_frame",
        "the outputs 2, 4, ... frames back, kept in memory and the checkpoint",
        "the samples are frames whatever save_every is",
        "ours",
        _long_term_flow,
    ),
    Departure(
        "mask-video-rate",
        "video masks' frame rate",
        "reads a mask video at its own frame rate (the source video at frames_per_second)",
        "reads masks at frames_per_second, as the source",
        "a mask made for the video stays in step with it (PyTTI's Rotoscoper never passed its "
        "settings to get_frames)",
        "ours: each mask named shows other frames than in PyTTI unless its own rate is "
        "frames_per_second",
        lambda p: p.masked({MaskKind.VIDEO}),
    ),
    # --- audio -------------------------------------------------------------------------------
    Departure(
        "audio-filter",
        "audio bands",
        "filters each frame's window separately at 44.1 kHz (the filter restarting every frame)",
        "filters the whole track once, forward and backward, at 11 or 22 kHz",
        "onsets stay sharp and the filter adds no lag (PyTTI's comment says filtering the whole "
        "track one way gave maxima 'way off'; forward and backward does not)",
        "ours",
        _audio,
    ),
    Departure(
        "audio-prev",
        "the _prev audio variables",
        "calls set_t with no bands and then with the frame's at each frame (update_func.py 214 "
        "and 231), so the previous bands it keeps are the frame's own (eval_tools.py 49-56): "
        "`fLo_prev` always equals `fLo`, and `fLo - fLo_prev` is 0",
        "the previous frame's value",
        "PyTTI's is a bug",
        "ours: PyTTI evaluated each expression named with `fLo_prev` equal to `fLo` (so "
        "`fLo - fLo_prev` as 0)",
        _prev,
    ),
    Departure(
        "audio-maxima",
        "the bands' normalisation",
        "takes each band's maximum over the track's first (length - offset) seconds, from t = 0 "
        "rather than from input_audio_offset",
        "from the offset on, the part of the track the animation hears",
        "0 to 1 over the sound the animation uses",
        "ours",
        lambda p: _when(
            bool(_audio(p)) and p.s.input_audio_offset > 0,
            f"input_audio_offset {p.s.input_audio_offset:g}",
        ),
    ),
    Departure(
        "audio-edges",
        "the bands before frame 0 and after the track",
        "the names do not exist before the first frame (an expression using them stops the "
        "run); after the track they keep the last frame's values",
        "0 before the animation and after the track",
        "every expression is defined at every step",
        "ours: each expression named reads 0 there",
        lambda p: p.using(p.bands) if _audio(p) else [],
    ),
)


def applying(settings: Settings) -> list[tuple[Departure, list[str]]]:
    """The departures a converted file depends on, each with its places."""
    places = Places(settings)
    return [(d, found) for d in DEPARTURES if d.places and (found := d.places(places))]


def report_lines(settings: Settings) -> list[str]:
    """The import report's line for each departure the file depends on: its id and topic, the
    places, and what the file gets."""
    lines = []
    for d, found in applying(settings):
        more = len(found) - MAX_PLACES
        named = "; ".join(found[:MAX_PLACES]) + (f"; ... and {more} more" if more > 0 else "")
        gets = f"pytti_nb's: {d.ours}" if d.imported == "ours" else d.imported
        lines.append(f"{REPORT_PREFIX} [{d.id}] {d.topic} ({named}): {gets}")
    return lines
