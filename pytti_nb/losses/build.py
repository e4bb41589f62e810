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
    LatentStabilization,
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


def build_terms(run_plan, perceptors, assets, device, depth_model=None, image_model=None) -> list:
    """Every loss term of a run, each with its targets embedded (text embeddings are cached).

    With direct_loss pytti, an image model whose PyTTI direct loss is latent (VQGAN) gets
    PyTTI's LatentLoss, its targets' codes encoded here, once.
    """
    off, weights = run_plan.off, run_plan.weights
    latent_model = _latent_model(run_plan.settings, image_model)
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
        terms.append(Smoothing(run_plan.schedules["smoothing_weight"], run_plan.settings.seamless))
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
                **_latent_of(init, latent_model),
            )  # fmt: skip
        )
    for k, d in enumerate(run_plan.direct_prompts):
        target = to_tensor(assets.rgb[d.path], device)
        mask = mask_tensor(d.mask, assets, device) if d.mask.kind.is_file else None
        terms.append(
            DirectTarget(
                f"direct_{k}",
                target,
                d.weight,
                d.stop,
                mask,
                video_mask=_video(d.mask),
                **_latent_of(target, latent_model),
            )  # fmt: skip
        )
    terms += _stabilization(
        run_plan, perceptors, assets, device, init, depth_model, embedder, image_model
    )
    return terms


def _latent_model(settings, image_model):
    """The image model when the run takes PyTTI's latent direct loss (VQGAN, direct_loss:
    pytti), else None."""
    if settings.direct_loss != "pytti" or image_model is None:
        return None
    return image_model if image_model.direct_latent else None


def _latent_of(target, latent_model) -> dict:
    """DirectTarget's arguments for PyTTI's LatentLoss: the target's codes and the model."""
    if latent_model is None:
        return {}
    return {"latent": latent_model.latent_target(target), "image_model": latent_model}


def _stabilization(
    run_plan, perceptors, assets, device, init, depth_model, embedder, image_model
) -> list:
    """The stabilisation terms that are on; before the first frame they compare with the init
    image when there is one (PyTTI)."""
    s, off, weights, out = run_plan.settings, run_plan.off, run_plan.weights, []
    latent_model = _latent_model(s, image_model)
    for setting, term in PIXEL_STABILIZATION.items():
        if setting not in off:
            w = weights[setting]
            mask = _pixel_mask(w, assets, device)
            name = stabilization_term(setting)
            if term is DirectStabilization and latent_model is not None:
                out.append(LatentStabilization(name, w, latent_model, mask=mask, reference=init))
                continue
            extra = {"depth_model": depth_model} if term is DepthStabilization else {}
            if term is EdgeStabilization:
                extra = {"wrap": s.seamless}  # a seamless image's edges run across its seams
            out.append(term(name, w, mask=mask, reference=init, **extra))
    if s.animation_mode in FLOWING and "flow_stabilization_weight" not in off:
        w = weights["flow_stabilization_weight"]
        out.append(
            FlowStabilization(
                w,
                mask=_pixel_mask(w, assets, device),
                image_model=_flow_latent_model(s, image_model),
                pytti_3d=s.flow_stabilization_3d == "pytti",
            )
        )
    if "semantic_stabilization_weight" not in off:
        w = weights["semantic_stabilization_weight"]
        target = _clip_target("stabilization", w, perceptors, assets, device)
        references = None
        if init is not None:
            references = {p: embedder(p, init) for p in perceptors}
        out.append(SemanticStabilization(target, perceptors, embedder, references))
    return out


def _flow_latent_model(settings, image_model):
    """The image model when Video Source's flow loss has PyTTI's latent part (direct_loss:
    pytti and a model with a latent_strength: VQGAN 1, Limited Palette 0.1), else None."""
    if settings.direct_loss != "pytti" or settings.animation_mode != "Video Source":
        return None
    return image_model if image_model is not None and image_model.latent_strength else None


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
