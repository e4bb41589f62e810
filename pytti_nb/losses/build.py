"""Build a run's loss terms from its plan: prompts, init targets, smoothing, direct targets and
stabilisation."""

from ..config.schema import FLOWING
from ..lang.prompts import MaskKind
from ..perception.targets import (
    ImageEmbedder,
    Target,
    build_target,
    mask_tensor,
    to_tensor,
    with_mask,
)
from .stabilization import (
    DepthStabilization,
    DirectStabilization,
    EdgeStabilization,
    FlowStabilization,
    SemanticStabilization,
)
from .terms import DirectTarget, ScenePrompts, SemanticInit, Smoothing

# The term of each pixel stabilisation setting (flow and semantic stabilisation differ in kind);
# each term is named stabilization_<its setting's first word>.
PIXEL_STABILIZATION = {
    "direct_stabilization_weight": DirectStabilization,
    "edge_stabilization_weight": EdgeStabilization,
    "depth_stabilization_weight": DepthStabilization,
}


def build_terms(run_plan, perceptors, assets, device, depth_model=None) -> list:
    """Every loss term of a run, each with its targets embedded (text embeddings are cached)."""
    off, weights = run_plan.off, run_plan.weights
    embedder = ImageEmbedder.of(run_plan.settings)
    scenes = [
        [build_target(p, perceptors, assets, device, embedder) for p in scene.prompts]
        for scene in run_plan.scenes
    ]
    terms = [ScenePrompts(scenes)]
    init = to_tensor(assets.init, device) if assets.init is not None else None
    if init is not None and "semantic_init_weight" not in off:
        # the init image is already loaded; no prompt string to parse (paths may hold ']')
        target = _clip_target(
            "semantic init", weights["semantic_init_weight"], perceptors, assets, device
        )
        target.see({p: embedder(p, init) for p in perceptors})
        terms.append(SemanticInit(target))
    if "smoothing_weight" not in off:
        terms.append(Smoothing(run_plan.schedules["smoothing_weight"]))
    if init is not None and "direct_init_weight" not in off:
        w = weights["direct_init_weight"]
        terms.append(
            DirectTarget(
                "direct_init",
                init,
                w.weight,
                w.stop,
                _pixel_mask(w, assets, device),
                video_mask=_video(w.mask),
                until_animation=True,
            )  # fmt: skip
        )
    for k, d in enumerate(run_plan.direct_prompts):
        target = to_tensor(assets.rgb[d.path], device)
        mask = mask_tensor(d.mask, assets, device) if d.mask.kind.is_file else None
        terms.append(
            DirectTarget(f"direct_{k}", target, d.weight, d.stop, mask, video_mask=_video(d.mask))
        )
    terms += _stabilization(run_plan, perceptors, assets, device, init, depth_model, embedder)
    return terms


def _stabilization(run_plan, perceptors, assets, device, init, depth_model, embedder) -> list:
    """The stabilisation terms that are on; before the first frame they compare with the init
    image when there is one (PyTTI)."""
    off, weights, out = run_plan.off, run_plan.weights, []
    for setting, term in PIXEL_STABILIZATION.items():
        if setting not in off:
            w = weights[setting]
            mask = _pixel_mask(w, assets, device)
            extra = {"depth_model": depth_model} if term is DepthStabilization else {}
            out.append(term(stabilization_term(setting), w, mask=mask, reference=init, **extra))
    flowing = run_plan.settings.animation_mode in FLOWING
    if flowing and "flow_stabilization_weight" not in off:
        w = weights["flow_stabilization_weight"]
        out.append(FlowStabilization(w, mask=_pixel_mask(w, assets, device)))
    if "semantic_stabilization_weight" not in off:
        w = weights["semantic_stabilization_weight"]
        target = _clip_target("stabilization", w, perceptors, assets, device)
        references = None
        if init is not None:
            references = {p: embedder(p, init) for p in perceptors}
        out.append(SemanticStabilization(target, perceptors, embedder, references))
    return out


def stabilization_term(setting: str) -> str:
    """The loss term name of a stabilisation setting: depth_stabilization_weight ->
    stabilization_depth."""
    return "stabilization_" + setting.split("_", 1)[0]


def _pixel_mask(weight, assets, device):
    """The image mask (a video mask's first frame) of a pixel weight as [1,1,H,W], or None."""
    return mask_tensor(weight.mask, assets, device) if weight.mask.kind.is_file else None


def _video(mask):
    """The mask when it is a video mask (its frames follow the animation), else None."""
    return mask if mask.kind is MaskKind.VIDEO else None


def _clip_target(source, weight, perceptors, assets, device) -> Target:
    """A Target for a CLIP weight setting; the caller fills in its embeddings."""
    target = Target(source, weight.weight, weight.stop, weight.mask, embeds={})
    return with_mask(target, perceptors, assets, device)
